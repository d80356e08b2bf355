# metaparity's R side: one definition of "run this analysis in metafor and return
# the fields metaparity reports". Sourced by r_scripts/goldens.R (golden files) and
# by the rpy2 bridge (live parity), so both ask metafor the same question.
suppressPackageStartupMessages({
  library(metafor)
})

# Tight stopping rules so that iterative estimators are compared at their root
# rather than at metafor's default thresholds (1e-5 / uniroot tol ~1.2e-4).
# metafor's thresholds are absolute in tau^2 units, so they are scaled with the
# sampling variances (proportions have vi ~ 1e-4): 1e-14 * min(1, median(vi)).
mp_control_for <- function(vi, relax = 1) {
  s <- min(1, stats::median(vi))
  # tau2.max: PM/PMM search [0, tau2.max] (default 100 is too low for raw mean differences)
  list(threshold = 1e-14 * s * relax, maxiter = 10000L, tol = 1e-15 * s,
       tau2.max = 1e8 * max(1, max(vi)))
}
# tau2.max: metafor's default search limit (100) is a cap, not a bound; lift it (in
# the units of the data) so that confint() reports the actual Q-profile bound.
mp_confint_control_for <- function(vi) {
  list(tol = 1e-15 * min(1, stats::median(vi)), maxiter = 10000L, tau2.max = 1e8 * max(1, max(vi)))
}

# rma() at the tightest threshold metafor's iteration can reach: when rounding noise
# keeps its steps above it ("did not converge"), relax by 100x, at most twice.
# Returns list(res = the fit, control = the control used); other errors are raised.
mp_fit_relaxed <- function(args, vi) {
  res <- NULL
  for (relax in c(1, 100, 10000)) {
    ctl <- mp_control_for(vi, relax)
    res <- tryCatch(do.call(rma, c(args, list(control = ctl))), error = function(e) e)
    if (!inherits(res, "error") || !grepl("converge", conditionMessage(res))) break
  }
  if (inherits(res, "error")) stop(res)
  list(res = res, control = ctl)
}

# metafor_source: where this metafor came from -- METAPARITY_METAFOR_SOURCE when set (e.g.
# "github.com/wviechtb/metafor@<commit>" for a source build), else the library it loaded from.
mp_versions <- function() {
  src <- Sys.getenv("METAPARITY_METAFOR_SOURCE")
  if (!nzchar(src)) src <- paste("library", dirname(system.file(package = "metafor")))
  list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
       metafor_source = src,
       metadat = tryCatch(as.character(packageVersion("metadat")), error = function(e) NA_character_),
       platform = R.version$platform)
}

# The fit under a caller's control: "metafor" is metafor's default control (rma() is
# called without a control argument), a named list is passed as control = that list.
# Returns list(res = the fit, control = "metafor" or the list); errors are raised.
mp_fit_with <- function(args, control) {
  if (identical(control, "metafor")) {
    return(list(res = do.call(rma, args), control = "metafor"))
  }
  if (!is.list(control)) stop("control must be NULL, \"metafor\" or a named list")
  list(res = do.call(rma, c(args, list(control = control))), control = control)
}

# rma + predict (+ transformed predict) + confint; errors and warnings captured.
# control: NULL = the tight control above (iterations stopped at the root); "metafor" =
# metafor's default control; a named list = rma(..., control = that list).
mp_rma <- function(yi, vi, method, test, level = 95, weights = NULL, measure = "GEN",
                   ni = NULL, transf = NULL, control = NULL) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    args <- list(yi = yi, vi = vi, method = method, test = test, level = level)
    if (!is.null(weights)) args$weights <- weights
    fr <- if (is.null(control)) mp_fit_relaxed(args, vi) else mp_fit_with(args, control)
    res <- fr$res; ctl <- fr$control
    fields <- list(b = as.numeric(res$beta), se = res$se, zval = res$zval, pval = res$pval,
                   ci_lb = res$ci.lb, ci_ub = res$ci.ub, tau2 = res$tau2,
                   se_tau2 = if (is.null(res$se.tau2)) NA_real_ else res$se.tau2,
                   I2 = res$I2, H2 = res$H2, QE = res$QE, QEp = res$QEp, k = res$k)
    p <- predict(res)
    pred <- list(pred = p$pred, se = p$se, ci_lb = p$ci.lb, ci_ub = p$ci.ub,
                 pi_lb = if (is.null(p$pi.lb)) NA_real_ else p$pi.lb,
                 pi_ub = if (is.null(p$pi.ub)) NA_real_ else p$pi.ub)
    ptr <- NULL
    if (!is.null(transf)) {
      f <- switch(transf, ilogit = transf.ilogit, iarcsin = transf.iarcsin, exp = exp,
                  ztor = transf.ztor, ipft.hm = transf.ipft.hm)
      pt <- if (transf == "ipft.hm") predict(res, transf = f, targs = list(ni = ni))
            else predict(res, transf = f)
      ptr <- list(transf = transf, pred = pt$pred, ci_lb = pt$ci.lb, ci_ub = pt$ci.ub,
                  pi_lb = if (is.null(pt$pi.lb)) NA_real_ else pt$pi.lb,
                  pi_ub = if (is.null(pt$pi.ub)) NA_real_ else pt$pi.ub)
    }
    ci <- NULL
    if (!(method %in% c("EE", "FE")) && is.null(weights) && res$k > 1) {
      cr <- tryCatch(confint(res, control = mp_confint_control_for(vi)), error = function(e) NULL)
      if (!is.null(cr)) {
        rr <- cr$random
        ci <- list(tau2_lb = rr["tau^2", "ci.lb"], tau2_ub = rr["tau^2", "ci.ub"],
                   I2_lb = rr["I^2(%)", "ci.lb"], I2_ub = rr["I^2(%)", "ci.ub"],
                   H2_lb = rr["H^2", "ci.lb"], H2_ub = rr["H^2", "ci.ub"])
      }
    }
    list(ok = TRUE, control = ctl, fit = fields, predict = pred, predict_transf = ptr, confint = ci)
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  out$warnings <- warns
  out
}

# Meta-regression: rma(yi, vi, mods = ...) with the same tight control as mp_rma
# (control = "metafor" or a named list: as in mp_rma).
# X is the full design matrix (k x p). When its first column is all 1 it is the
# intercept: the call is rma(yi, vi, mods = X[, -1], intercept = TRUE), the call a
# user writes, so that QM (btt) and R2 (vs the intercept-only fit) are metafor's.
# An X of only the intercept column is fitted as rma(yi, vi) (no moderators).
# weights: user weights (NULL: none).
mp_rma_mods <- function(yi, vi, X, method, test = "z", level = 95, control = NULL,
                        weights = NULL) {
  warns <- character(0)
  X <- as.matrix(X)
  if (is.null(colnames(X))) colnames(X) <- paste0("X", seq_len(ncol(X)))
  has_int <- all(X[, 1] == 1)
  nul <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
  out <- withCallingHandlers(tryCatch({
    args <- list(yi = yi, vi = vi, method = method, test = test, level = level)
    if (!is.null(weights)) args$weights <- as.numeric(weights)
    if (has_int) {
      if (ncol(X) > 1) args$mods <- X[, -1, drop = FALSE]
    } else {
      args$mods <- X
      args$intercept <- FALSE
    }
    res <- NULL
    relaxing <- if (is.null(control)) c(1, 100, 10000) else numeric(0)
    if (!is.null(control)) {
      fr <- mp_fit_with(args, control)
      res <- fr$res; ctl <- fr$control
    }
    for (relax in relaxing) {
      ctl <- mp_control_for(vi, relax)
      res <- tryCatch(do.call(rma, c(args, list(control = ctl))), error = function(e) e)
      # R2 refits the intercept-only model with the same control; when that fit does not
      # converge metafor reports R2 = NA silently -- relax as for the fit itself
      r2_failed <- !inherits(res, "error") && has_int && ncol(X) > 1 &&
        !(method %in% c("EE", "FE")) && is.na(nul(res$R2))
      if (r2_failed) next
      if (!inherits(res, "error") || !grepl("converge", conditionMessage(res))) break
    }
    if (inherits(res, "error")) stop(res)
    list(ok = TRUE, control = ctl, intercept = has_int,
         fit = list(b = as.numeric(res$beta), se = as.numeric(res$se),
                    zval = as.numeric(res$zval), pval = as.numeric(res$pval),
                    ci_lb = as.numeric(res$ci.lb), ci_ub = as.numeric(res$ci.ub),
                    tau2 = res$tau2, se_tau2 = nul(res$se.tau2), I2 = nul(res$I2),
                    H2 = nul(res$H2), R2 = nul(res$R2), QE = res$QE, QEp = res$QEp,
                    QM = nul(res$QM), QMp = nul(res$QMp), QMdf = as.numeric(res$QMdf),
                    k = res$k, p = res$p, coef_names = rownames(res$beta)))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  out$warnings <- warns
  out
}

# rma() called as a user calls it: `args` is a named list of rma's arguments as values
# (yi, vi, weights, measure, ai ... ni, subset (logical), tau2, weighted, add, to, drop00,
# method, test, level, ...); `data` (a named list of columns) becomes the data frame and
# `mods` (a formula as text) is evaluated in it. The tight control is scaled by the
# sampling variances metafor fits (after escalc, subset and NA removal), found by a probe
# fit that cannot stop on weights (method HE, unweighted, z-test); zeros are left out of
# the scale. Returns the fields of mp_rma_mods, the fitted yi/vi, tau2.fix, weighted and,
# for intercept-only models, predict().
mp_control_iface <- function(vi, relax = 1) {
  vp <- vi[is.finite(vi) & vi > 0]
  s <- if (length(vp)) min(1, stats::median(vp)) else 1
  list(threshold = 1e-14 * s * relax, maxiter = 10000L, tol = 1e-15 * s,
       tau2.max = 1e8 * max(1, max(vp, 0)))
}
mp_rma_iface <- function(args, data = NULL, mods = NULL) {
  warns <- character(0)
  nul <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
  out <- withCallingHandlers(tryCatch({
    if (!is.null(data)) args$data <- as.data.frame(data, stringsAsFactors = FALSE)
    if (!is.null(mods)) args$mods <- stats::as.formula(mods)
    probe_args <- args
    probe_args[c("method", "test", "weighted", "tau2", "weights")] <- NULL
    probe_args$method <- "HE"
    probe_args$weighted <- FALSE
    probe <- tryCatch(suppressWarnings(do.call(rma, probe_args)), error = function(e) NULL)
    vi <- if (is.null(probe)) 1 else probe$vi
    res <- NULL
    for (relax in c(1, 100, 10000)) {
      ctl <- mp_control_iface(vi, relax)
      res <- tryCatch(do.call(rma, c(args, list(control = ctl))), error = function(e) e)
      r2_failed <- !inherits(res, "error") && !res$int.only && res$int.incl &&
        !(res$method %in% c("FE", "EE", "CE")) && is.na(nul(res$R2)) && all(res$vi > 0)
      if (r2_failed) next
      if (!inherits(res, "error") || !grepl("converge", conditionMessage(res))) break
    }
    if (inherits(res, "error")) stop(res)
    pr <- NULL
    if (res$int.only) {
      p <- predict(res)
      pr <- list(pred = p$pred, se = p$se, ci_lb = p$ci.lb, ci_ub = p$ci.ub,
                 pi_lb = nul(p$pi.lb), pi_ub = nul(p$pi.ub))
    }
    list(ok = TRUE, control = ctl, int_only = res$int.only, tau2_fix = res$tau2.fix,
         weighted = res$weighted, yi = as.numeric(res$yi), vi = as.numeric(res$vi),
         slab = as.character(res$slab[res$not.na]), measure = res$measure,
         fit = list(b = as.numeric(res$beta), se = as.numeric(res$se),
                    zval = as.numeric(res$zval), pval = as.numeric(res$pval),
                    ci_lb = as.numeric(res$ci.lb), ci_ub = as.numeric(res$ci.ub),
                    tau2 = res$tau2, se_tau2 = nul(res$se.tau2), I2 = nul(res$I2),
                    H2 = nul(res$H2), R2 = nul(res$R2), QE = nul(res$QE), QEp = nul(res$QEp),
                    QM = nul(res$QM), QMp = nul(res$QMp), QMdf = as.numeric(res$QMdf),
                    k = res$k, p = res$p, coef_names = rownames(res$beta)),
         predict = pr)
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  out$warnings <- warns
  out
}

# Case diagnostics of rma(yi, vi) fitted with the same tight control as mp_rma:
# leave1out, influence (all columns, the is.infl flags and dfbs), rstudent, rstandard,
# cumul (data order) and baujat values. metafor refits the deleted/cumulative models
# with the model's control, so they are solved as tightly as the full fit. Each part is
# computed on its own: an error in one (e.g. "Stopped because k = 1.") is returned as
# list(error = msg) and does not hide the others. Names are metafor's (ci.lb, cook.d, ...);
# the t statistic is returned as zval whatever the test, cumul's p-values as pval.
mp_influence <- function(yi, vi, method, test = "z", level = 95) {
  warns <- character(0)
  part <- function(expr) tryCatch(expr, error = function(e) list(error = conditionMessage(e)))
  lr <- function(x) {
    z <- if (!is.null(x$zval)) x$zval else x$tval
    p <- if (!is.null(x$pval)) x$pval else x$pvals
    list(estimate = as.numeric(x$estimate), se = as.numeric(x$se), zval = as.numeric(z),
         pval = as.numeric(p), ci.lb = as.numeric(x$ci.lb), ci.ub = as.numeric(x$ci.ub),
         Q = as.numeric(x$Q), Qp = as.numeric(x$Qp), tau2 = as.numeric(x$tau2),
         I2 = as.numeric(x$I2), H2 = as.numeric(x$H2))
  }
  out <- withCallingHandlers(tryCatch({
    args <- list(yi = yi, vi = vi, method = method, test = test, level = level)
    fr <- mp_fit_relaxed(args, vi); res <- fr$res; ctl <- fr$control
    l1o <- part(lr(leave1out(res)))
    inf <- part({
      i <- influence(res)
      f <- i$inf
      list(rstudent = as.numeric(f$rstudent), dffits = as.numeric(f$dffits),
           cook.d = as.numeric(f$cook.d), cov.r = as.numeric(f$cov.r),
           tau2.del = as.numeric(f$tau2.del), QE.del = as.numeric(f$QE.del),
           hat = as.numeric(f$hat), weight = as.numeric(f$weight),
           inf = as.logical(i$is.infl), dfbs = as.numeric(i$dfbs[[1]]))
    })
    rs <- function(x) list(resid = as.numeric(x$resid), se = as.numeric(x$se), z = as.numeric(x$z))
    rstu <- part(rs(rstudent(res)))
    rsta <- part(rs(rstandard(res)))
    cml <- part(lr(cumul(res)))
    bj <- part({
      grDevices::pdf(NULL)
      on.exit(grDevices::dev.off(), add = TRUE)
      b <- baujat(res)
      list(x = as.numeric(b$x), y = as.numeric(b$y))
    })
    list(ok = TRUE, control = ctl, fit = list(b = as.numeric(res$beta), tau2 = res$tau2, k = res$k),
         leave1out = l1o, influence = inf, rstudent = rstu, rstandard = rsta, cumul = cml,
         baujat = bj)
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  out$warnings <- warns
  out
}

# Binomial-normal model for proportions: rma.glmm(measure = "PLO", xi, ni, nAGQ) fitted by
# lme4::glmer. tight = TRUE (default) asks for the tightest optimum lme4 can reach:
# bobyqa in both glmer stages with rhoend = 1e-12 and PIRLS tolPwrss = 1e-13; tight = FALSE
# is rma.glmm's defaults. glm (the equal-effects and saturated fits behind QE.Wld/QE.LRT)
# keeps its defaults: with a tighter epsilon a study with 0 events gets a logit near -33 and
# a weight ~1e-14 and the Wald statistic loses digits (6.04 instead of the limit 6.16).
# Besides metafor's fields the marginal (AGQ) log-likelihood is evaluated with lme4's own deviance function (glmer(devFunOnly = TRUE)) at metafor's
# optimum and at `at` = c(mu, tau2) (e.g. metaparity's optimum). lme4's deviance is
# -2 * logLik for nAGQ = 1, but -2 * (logLik - logLik of the saturated binomial model) for
# nAGQ > 1; ll_marg_* undo that, so they are always the full marginal log-likelihood.
mp_glmm_control <- function(tight = TRUE, tolPwrss = 1e-13) {
  if (!tight) return(list())
  g <- list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6))
  if (!is.null(tolPwrss)) g$tolPwrss <- tolPwrss
  list(glmerCtrl = g)
}
mp_rma_glmm <- function(xi, ni, nAGQ = 7, level = 95, test = "z", at = NULL, tight = TRUE) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    if (!requireNamespace("lme4", quietly = TRUE))
      stop("the R package lme4 is not installed (apt-get install r-cran-lme4)")
    # PIRLS at tolPwrss = 1e-13 can fail to converge ("Cannot fit ML model"): then relax
    # it (1e-10, lme4's default 1e-7), keeping the tight bobyqa; the control used is returned.
    res <- NULL
    for (tp in if (tight) list(1e-13, 1e-10, NULL) else list(NULL)) {
      ctl <- mp_glmm_control(tight, tp)
      res <- tryCatch(rma.glmm(measure = "PLO", xi = xi, ni = ni, nAGQ = nAGQ, level = level,
                               test = test, control = ctl), error = function(e) e)
      if (!inherits(res, "error")) break
    }
    if (inherits(res, "error")) stop(res)
    fs <- res$fit.stats$ML
    fields <- list(b = as.numeric(res$beta), se = res$se, zval = res$zval, pval = res$pval,
                   ci_lb = res$ci.lb, ci_ub = res$ci.ub, tau2 = res$tau2, I2 = res$I2,
                   H2 = res$H2, vt = res$vt, QE_Wld = res$QE.Wld, QEp_Wld = res$QEp.Wld,
                   QE_LRT = res$QE.LRT, QEp_LRT = res$QEp.LRT, logLik = fs[1],
                   deviance = fs[2], AIC = fs[3], BIC = fs[4], AICc = fs[5], k = res$k)
    pt <- predict(res, transf = transf.ilogit)
    p <- predict(res)
    pred <- list(pred = p$pred, se = p$se, ci_lb = p$ci.lb, ci_ub = p$ci.ub,
                 pi_lb = p$pi.lb, pi_ub = p$pi.ub)
    ptr <- list(transf = "ilogit", pred = pt$pred, ci_lb = pt$ci.lb, ci_ub = pt$ci.ub,
                pi_lb = pt$pi.lb, pi_ub = pt$pi.ub)
    d <- data.frame(xi = xi, ni = ni, study = factor(seq_along(xi)))
    ll_sat <- sum(dbinom(xi, ni, xi / ni, log = TRUE))
    ll_marg <- function(mu, tau2) {
      for (tp in c(1e-13, 1e-10, 1e-7)) {  # PIRLS may not reach 1e-13 (see above)
        dev <- tryCatch({
          devfun <- lme4::glmer(cbind(xi, ni - xi) ~ 1 + (1 | study), data = d,
                                family = binomial, nAGQ = nAGQ, devFunOnly = TRUE,
                                control = lme4::glmerControl(tolPwrss = tp))
          devfun(c(sqrt(tau2), mu))
        }, error = function(e) NA_real_)
        if (!is.na(dev)) break
      }
      if (nAGQ == 1) -dev / 2 else ll_sat - dev / 2
    }
    lme4_ll <- list(ll_marg_fit = ll_marg(fields$b, fields$tau2), ll_sat = ll_sat,
                    ll_marg_at = if (is.null(at)) NA_real_ else ll_marg(at[1], at[2]))
    list(ok = TRUE, control = ctl, nAGQ = nAGQ, fit = fields, predict = pred,
         predict_transf = ptr, lme4 = lme4_ll)
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  out$warnings <- warns
  out
}

# Whether this metafor's trimfill() refits with the model's control (metafor >= 4.4, commit
# of 2023-08-11): then a control= given to trimfill() is matched twice and fails. Asked of
# the installed code (not of packageVersion, which development builds blur).
mp_trimfill_uses_model_control <- function() {
  fn <- getS3method("trimfill", "rma.uni")
  any(grepl("x$control", deparse(body(fn)), fixed = TRUE))
}

# Small-study / publication-bias methods of rma(yi, vi) fitted with the same tight control
# as mp_rma (regtest uses the model's control; trimfill before 4.4 refits with metafor's
# default control unless given control=, so the tight control is passed to it; from 4.4 see
# mp_trimfill_uses_model_control): ranktest; regtest (model rma/lm x predictors sei, vi and, with ni, ni/ninv/
# sqrtni/sqrtninv); trimfill (L0 and R0 with the side metafor chooses, and L0 on each side
# forced); fsn (Rosenthal, Orwin, Orwin weighted, Rosenberg). Each part is computed on its
# own: an error (e.g. k too small) comes back as list(error = msg).
mp_bias <- function(yi, vi, method, test = "z", ni = NULL, level = 95) {
  warns <- character(0)
  part <- function(expr) tryCatch(expr, error = function(e) list(error = conditionMessage(e)))
  nul <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
  out <- withCallingHandlers(tryCatch({
    args <- list(yi = yi, vi = vi, method = method, test = test, level = level)
    fr <- mp_fit_relaxed(args, vi); res <- fr$res; ctl <- fr$control
    rk <- part({ r <- ranktest(res); list(tau = as.numeric(r$tau), pval = as.numeric(r$pval)) })
    preds <- c("sei", "vi")
    if (!is.null(ni)) preds <- c(preds, "ni", "ninv", "sqrtni", "sqrtninv")
    reg <- list()
    for (m in c("rma", "lm")) for (p in preds) {
      reg[[paste(m, p, sep = "_")]] <- part({
        g <- if (p %in% c("sei", "vi")) regtest(res, model = m, predictor = p)
             else regtest(res, model = m, predictor = p, ni = ni)
        cf <- if (m == "rma") as.numeric(g$fit$beta) else as.numeric(coef(g$fit))
        list(zval = nul(g$zval), pval = nul(g$pval), dfs = nul(g$dfs), est = nul(g$est),
             ci_lb = nul(g$ci.lb), ci_ub = nul(g$ci.ub), b = cf,
             tau2 = if (m == "rma") nul(g$fit$tau2) else NA_real_)
      })
    }
    tf1 <- function(...) part({
      if (mp_trimfill_uses_model_control()) {
        # metafor >= 4.4 refits the side and trimmed models with res$control (= ctl) and
        # refuses a second control=; its final fit on the filled data then runs at the
        # default control, so that fit is repeated here with ctl (same arguments otherwise)
        t <- trimfill(res, ...)
        f <- if (t$k0 > 0) rma(yi = t$yi, vi = t$vi, method = res$method, weighted = res$weighted,
                              control = ctl) else t
      } else {
        t <- trimfill(res, ..., control = ctl)
        f <- t
      }
      list(k0 = as.numeric(t$k0), side = t$side, se_k0 = nul(t$se.k0), p_k0 = nul(t$p.k0),
           yi = as.numeric(t$yi), vi = as.numeric(t$vi), fill = as.logical(t$fill),
           b = as.numeric(f$beta), se = as.numeric(f$se), zval = as.numeric(f$zval),
           pval = as.numeric(f$pval), ci_lb = as.numeric(f$ci.lb), ci_ub = as.numeric(f$ci.ub),
           tau2 = as.numeric(f$tau2), k = t$k)
    })
    tf <- list(L0 = tf1(estimator = "L0"), R0 = tf1(estimator = "R0"),
               L0_left = tf1(estimator = "L0", side = "left"),
               L0_right = tf1(estimator = "L0", side = "right"),
               R0_left = tf1(estimator = "R0", side = "left"),
               R0_right = tf1(estimator = "R0", side = "right"))
    fs1 <- function(...) part({
      f <- fsn(yi, vi, ...)
      list(fsnum = as.numeric(f$fsnum), pval = nul(f$pval), meanes = nul(f$meanes),
           target = nul(f$target), alpha = nul(f$alpha))
    })
    fs <- list(Rosenthal = fs1(type = "Rosenthal"), Orwin = fs1(type = "Orwin"),
               Orwin_weighted = fs1(type = "Orwin", weighted = TRUE),
               Rosenberg = fs1(type = "Rosenberg"),
               Rosenthal_01 = fs1(type = "Rosenthal", alpha = 0.01),
               Rosenberg_01 = fs1(type = "Rosenberg", alpha = 0.01))
    list(ok = TRUE, control = ctl, fit = list(b = as.numeric(res$beta), tau2 = res$tau2, k = res$k),
         ranktest = rk, regtest = reg, trimfill = tf, fsn = fs)
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  out$warnings <- warns
  out
}

# escalc returning plain vectors
# add = NULL leaves escalc's add missing (metafor's per-measure default)
mp_escalc <- function(measure, args, add = NULL, to = "only0", drop00 = FALSE) {
  args$measure <- measure; args$to <- to; args$drop00 <- drop00
  if (!is.null(add)) args$add <- add
  e <- do.call(escalc, args)
  list(yi = as.numeric(e$yi), vi = as.numeric(e$vi))
}

# JSON at %.17g: numbers are written by sprintf, never rounded by the serializer.
mp_json_num <- function(x) {
  # NA -> null; NaN/Inf -> NaN/Infinity (read by Python's json module)
  f <- function(v) {
    if (is.nan(v)) "NaN" else if (is.na(v)) "null" else if (is.infinite(v))
      (if (v > 0) "Infinity" else "-Infinity") else sprintf("%.17g", v)
  }
  if (length(x) == 1) structure(f(x), class = "json")
  else structure(paste0("[", paste(vapply(x, f, ""), collapse = ","), "]"), class = "json")
}
mp_json_prep <- function(obj) {
  if (is.list(obj)) return(lapply(obj, mp_json_prep))
  if (is.numeric(obj)) return(mp_json_num(obj))
  obj
}
# a generic call's arguments: {"__num__": [...]} is a numeric vector (null is NA),
# {"__str__": [...]} a character vector, any other object a list
mp_arg <- function(a) {
  if (is.list(a) && !is.null(names(a)) && identical(names(a), "__num__"))
    return(as.numeric(vapply(a[["__num__"]], function(e) if (is.null(e)) NA_real_ else as.numeric(e), 0)))
  if (is.list(a) && !is.null(names(a)) && identical(names(a), "__str__"))
    return(as.character(unlist(a[["__str__"]])))
  if (is.list(a)) return(lapply(a, mp_arg))
  a
}

# rma()'s arguments for yi, vi and a full design matrix X (k x p, column-major numbers, with
# its column names), as a user writes them: X[, -1] as mods when the first column is the
# intercept, else X with intercept = FALSE.
mp_uni_args <- function(yi, vi, X, X_names, method, test) {
  yi <- as.numeric(unlist(yi)); vi <- as.numeric(unlist(vi))
  Xm <- matrix(as.numeric(unlist(X)), nrow = length(yi))
  colnames(Xm) <- unlist(X_names)
  int <- all(Xm[, 1] == 1)
  mods <- if (int) { if (ncol(Xm) > 1) Xm[, -1, drop = FALSE] else NULL } else Xm
  args <- list(yi = yi, vi = vi, intercept = int, method = method, test = test)
  if (!is.null(mods)) args$mods <- mods
  args
}

# mp_guard(expr): expr's value (a list) with ok = TRUE unless it sets ok itself, or
# list(ok = FALSE, error = message) when it stops; every warning is collected (muffled) into
# $warnings. The one wrapper of the family functions' calls.
mp_guard <- function(expr) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    v <- expr
    if (is.null(v$ok)) v <- c(list(ok = TRUE), v)
    v
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- unique(warns)
  out
}

mp_to_json <- function(obj) {
  jsonlite::toJSON(mp_json_prep(obj), auto_unbox = TRUE, json_verbatim = TRUE,
                   null = "null", na = "null", pretty = FALSE)
}

# The generic call's round trip (tests): each argument back with its R class and length.
mp_echo <- function(...) {
  a <- list(...)
  list(ok = TRUE, names = names(a),
       classes = vapply(a, function(x) class(x)[1], ""),
       lengths = vapply(a, length, 0L),
       values = lapply(a, function(x) if (is.list(x)) names(x) else x))
}

# R's model.matrix of a one-sided formula on data (a list of columns: numbers, strings or
# logicals): the column names and the values (column-major), for the formula tests.
mp_model_matrix <- function(formula, data, logical = NULL) {
  dat <- as.data.frame(lapply(data, function(x) {
    v <- unlist(lapply(x, function(e) if (is.null(e)) NA else e))
    v
  }), stringsAsFactors = FALSE)
  for (nm in unlist(logical)) dat[[nm]] <- as.logical(dat[[nm]])
  m <- model.matrix(as.formula(formula), model.frame(as.formula(formula), dat,
                                                      na.action = na.pass))
  list(ok = TRUE, names = colnames(m), values = as.numeric(m), nrow = nrow(m))
}
