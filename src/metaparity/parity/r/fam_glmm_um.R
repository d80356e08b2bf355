# rma.glmm unconditional models for two-group data (model = "UM.FS" / "UM.RS"; measure = "OR"
# with ai, bi, ci, di or "IRR" with x1i, t1i, x2i, t2i), fitted with metaparity's tight
# glmer control (mp_glmm_control: bobyqa rhoend = 1e-12, tolPwrss = 1e-13, relaxed step by step
# (1e-12, 1e-11, 1e-10) and to
# lme4's default when PIRLS cannot reach it). Besides metafor's fields it returns lme4's own
# deviance function (glmer(devFunOnly = TRUE), the same model formula metafor uses) at
# metafor's optimum and at `at` (list(theta = , beta = ): theta = lme4's theta, beta = all
# fixed effects in lme4's order), as log-likelihoods, so that the likelihood can be compared
# exactly at one point and the two optima ranked in lme4's own terms.
`%||%` <- function(a, b) if (is.null(a)) b else a
mp_rma_glmm_um <- function(measure = "OR", model = "UM.FS", ai = NULL, bi = NULL, ci = NULL,
                           di = NULL, x1i = NULL, t1i = NULL, x2i = NULL, t2i = NULL,
                           xi = NULL, ti = NULL,
                           mods = NULL, nAGQ = NULL, level = 95, test = "z", at = NULL,
                           tight = TRUE) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    if (!requireNamespace("lme4", quietly = TRUE))
      stop("the R package lme4 is not installed (apt-get install r-cran-lme4)")
    X <- if (is.null(mods)) NULL else as.matrix(as.data.frame(mods))
    args <- list(measure = measure, model = model, level = level, test = test)
    if (measure == "OR") args <- c(args, list(ai = ai, bi = bi, ci = ci, di = di))
    if (measure == "IRR") args <- c(args, list(x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i))
    if (measure == "IRLN") { args <- c(args, list(xi = xi, ti = ti)); args$model <- NULL }
    if (!is.null(X)) args$mods <- X
    if (!is.null(nAGQ)) args$nAGQ <- nAGQ
    res <- NULL
    w0 <- warns
    for (tp in if (tight) list(1e-13, 1e-12, 1e-11, 1e-10, NULL) else list(NULL)) {
      warns <- w0  # keep the warnings of the attempt that succeeds only
      ctl <- mp_glmm_control(tight, tp)
      res <- tryCatch(do.call(rma.glmm, c(args, list(control = ctl))), error = function(e) e)
      if (!inherits(res, "error")) break
    }
    fallback <- "variance-covariance matrix computed from finite-difference Hessian"
    n_fallback <- sum(grepl(fallback, warns, fixed = TRUE))
    if (inherits(res, "error")) stop(res)
    fs <- res$fit.stats$ML
    num <- function(v) if (is.null(v)) NA_real_ else as.numeric(v)
    fields <- list(b = as.numeric(res$beta), se = res$se, zval = res$zval, pval = res$pval,
                   ci_lb = res$ci.lb, ci_ub = res$ci.ub, tau2 = res$tau2,
                   sigma2 = num(res$sigma2), I2 = res$I2, H2 = res$H2, vt = res$vt,
                   QE_Wld = res$QE.Wld, QEp_Wld = res$QEp.Wld, QE_LRT = res$QE.LRT,
                   QEp_LRT = res$QEp.LRT, QM = res$QM, QMp = res$QMp, logLik = fs[1],
                   deviance = fs[2], AIC = fs[3], BIC = fs[4], AICc = fs[5], k = res$k,
                   k_all = res$k.all, p = res$p, vb = as.numeric(res$vb))
    # lme4's deviance function for metafor's ML model (metafor's formula, coding = 1/2)
    k <- res$k
    if (measure == "OR") {
      grp <- cbind(xi = c(rbind(res$outdat$ai, res$outdat$ci)),
                   mi = c(rbind(res$outdat$bi, res$outdat$di)))
      fam <- binomial; off <- NULL
      ll_sat <- sum(dbinom(grp[, 1], grp[, 1] + grp[, 2], grp[, 1] / (grp[, 1] + grp[, 2]),
                           log = TRUE))
    } else if (measure == "IRLN") {
      grp <- res$outdat$xi
      fam <- poisson; off <- log(res$outdat$ti)
      ll_sat <- sum(dpois(grp, grp, log = TRUE))
    } else {
      grp <- c(rbind(res$outdat$x1i, res$outdat$x2i))
      fam <- poisson; off <- log(c(rbind(res$outdat$t1i, res$outdat$t2i)))
      ll_sat <- sum(dpois(grp, grp, log = TRUE))
    }
    Xr <- if (is.null(res$X)) matrix(1, k, 1) else res$X
    group1 <- rep(c(1, 0), times = k); group <- rep(c(1/2, -1/2), times = k)
    study <- factor(rep(seq_len(k), each = 2L)); const <- rep(1, 2 * k)
    X.fit <- group1 * Xr[rep(seq_len(k), each = 2L), , drop = FALSE]
    if (measure == "IRLN") { X.fit <- Xr; study <- factor(seq_len(k)); model <- "IRLN" }
    q <- if (model == "UM.RS" && measure != "IRLN") 1L else if (is.null(nAGQ)) 7L else as.integer(nAGQ)
    # metafor keeps no glmer object: refit its ML model with its formula and control (the same
    # deterministic computation), for the full parameter vector (theta, all fixed effects)
    fit <- if (model == "IRLN")
      lme4::glmer(grp ~ -1 + X.fit + (1 | study), offset = off, family = fam, nAGQ = q,
                  control = do.call(lme4::glmerControl, ctl$glmerCtrl %||% list()))
    else if (model == "UM.FS")
      lme4::glmer(grp ~ -1 + X.fit + study + (group - 1 | study), offset = off, family = fam,
                  nAGQ = q, control = do.call(lme4::glmerControl, ctl$glmerCtrl %||% list()))
    else
      lme4::glmer(grp ~ -1 + X.fit + const + (group || study), offset = off, family = fam,
                  nAGQ = q, control = do.call(lme4::glmerControl, ctl$glmerCtrl %||% list()))
    mkdev <- function(tpw) {
      ctl <- lme4::glmerControl(tolPwrss = tpw)
      if (model == "IRLN")
        lme4::glmer(grp ~ -1 + X.fit + (1 | study), offset = off, family = fam, nAGQ = q,
                    devFunOnly = TRUE, control = ctl)
      else if (model == "UM.FS")
        lme4::glmer(grp ~ -1 + X.fit + study + (group - 1 | study), offset = off,
                    family = fam, nAGQ = q, devFunOnly = TRUE, control = ctl)
      else
        lme4::glmer(grp ~ -1 + X.fit + const + (group || study), offset = off,
                    family = fam, nAGQ = q, devFunOnly = TRUE, control = ctl)
    }
    devfuns <- Filter(Negate(is.null), lapply(c(1e-13, 1e-12, 1e-11, 1e-10, 1e-7), function(t)
      tryCatch(mkdev(t), error = function(e) NULL)))
    devll <- function(par) {  # PIRLS may not reach 1e-13 at every point: then relax it
      if (is.null(par)) return(NA_real_)
      for (f in devfuns) {
        dev <- tryCatch(f(par), error = function(e) NA_real_)
        if (!is.na(dev)) break
      }
      if (q == 1) -dev / 2 else ll_sat - dev / 2
    }
    th_fit <- c(lme4::getME(fit, "theta"), lme4::fixef(fit))
    # did lme4's vcov of the ML fit fall back to RX (its finite-difference Hessian not PD)?
    ml_fb <- FALSE
    withCallingHandlers(vcov(fit), warning = function(w) {
      if (grepl(fallback, conditionMessage(w), fixed = TRUE)) ml_fb <<- TRUE
      invokeRestart("muffleWarning")
    })
    # UM.RS: metafor's saturated glmer (its X.QE, start and control), refitted for its
    # parameters: the treatment effect per study (loc), const and sigma, so that its RX
    # Wald statistic can be evaluated at lme4's own saturated optimum
    sat <- NULL
    if (model == "UM.RS" && measure != "IRLN" && k > 1) {
      X.QE <- model.matrix(~ 0 + X.fit + const + study:group1)
      g0 <- glm(grp ~ 0 + X.QE, offset = off, family = fam)
      X.QE <- X.QE[, !is.na(coef(g0)), drop = FALSE]
      fe0 <- lme4::glmer(grp ~ 0 + X.fit + const + (1 | study), offset = off, family = fam,
                         nAGQ = 1, control = do.call(lme4::glmerControl, ctl$glmerCtrl %||% list()))
      sq <- tryCatch(suppressMessages(suppressWarnings(lme4::glmer(grp ~ 0 + X.QE + (1 | study),
              offset = off, family = fam, start = c(sqrt(lme4::VarCorr(fe0)[[1]][1])), nAGQ = 1,
              control = do.call(lme4::glmerControl, ctl$glmerCtrl %||% list())))),
              error = function(e) NULL)
      if (!is.null(sq)) {
        # the refit's own QE.Wld (vcov as lme4 chooses: Hessian or its RX fallback): when it
        # is metafor's, the refit is metafor's saturated fit (lme4 can take another path on
        # a degenerate fit, e.g. dat.bcg ~ ablat)
        pq <- ncol(Xr) + 1L
        b2 <- cbind(lme4::fixef(sq)[-seq_len(pq)])
        vb2 <- suppressWarnings(as.matrix(vcov(sq)))[-seq_len(pq), -seq_len(pq), drop = FALSE]
        qe_refit <- tryCatch(c(t(b2) %*% chol2inv(chol(vb2)) %*% b2), error = function(e) NA_real_)
        eta <- as.numeric(X.QE %*% lme4::fixef(sq))
        sat <- list(sigma = as.numeric(lme4::getME(sq, "theta")),
                    const = eta[seq(2, 2 * k, by = 2)][1],
                    loc = eta[seq(1, 2 * k, by = 2)] - eta[seq(2, 2 * k, by = 2)],
                    ll = as.numeric(logLik(sq)), qe_refit = qe_refit)
      }
    }
    at_par <- if (is.null(at)) NULL else c(as.numeric(at$theta), as.numeric(at$beta))
    lme4_ll <- list(ll_marg_fit = devll(th_fit), ll_marg_at = devll(at_par), ll_sat = ll_sat,
                    theta = as.numeric(lme4::getME(fit, "theta")),
                    fixef = as.numeric(lme4::fixef(fit)),
                    vcov_rx_ml = ml_fb, vcov_rx_qe = n_fallback > as.integer(ml_fb),
                    refit_b_diff = max(abs(lme4::fixef(fit)[seq_len(ncol(Xr))] - res$beta)),
                    saturated = sat)
    list(ok = TRUE, control = ctl, nAGQ = q, fit = fields, lme4 = lme4_ll)
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  out$warnings <- warns
  out
}

# R's own saturated glm (one parameter per cell), as metafor fits it for QE.Wld: the
# estimates minus the offset, the diagonal of vcov() and the residual deviance, to check
# metaparity.models._glm_saturated (glm.fit's iteration replayed) cell by cell.
mp_glm_saturated <- function(x, n = NULL, offset = NULL) {
  out <- tryCatch({
    cell <- factor(seq_along(x))
    off <- if (is.null(offset)) rep(0, length(x)) else offset
    fit <- if (is.null(n)) glm(x ~ 0 + cell, offset = off, family = poisson)
           else glm(cbind(x, n - x) ~ 0 + cell, offset = off, family = binomial)
    list(ok = TRUE, theta = as.numeric(coef(fit)), var = as.numeric(diag(vcov(fit))),
         deviance = deviance(fit), iter = fit$iter)
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e)))
  out
}
