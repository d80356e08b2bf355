# Multilevel / multivariate models (metafor::rma.mv) for the parity bridge: every field, the
# fit statistics, the printout and, when `at` is given, metafor's log-likelihood at those
# variance components (rma.mv refitted with all of them fixed).  Sourced after metaparity.R.
#
# yi: numbers; V: numbers (variances) or k*k numbers column-major with V_nrow = k.
# data: list of named columns (the grouping variables); random: character formulas.
# X: the full design (k*p numbers, column-major) with X_names; an all-ones first column is
#    passed as metafor's intercept (mods = X[, -1]).
# R: list of list(levels =, values =) keyed by the group's name.
# sigma2/tau2/rho/gamma2/phi: NULL or numbers with NA = estimate.
# control: list for rma.mv's control= (optimizer settings).
# ci: list(comp = "sigma2" | "tau2" | ..., index = 0-based, level =, tries =) ->
#   confint(fit, comp = index + 1, control = list(tol = 1e-12)) as `confint` (rows: the
#   component, its sqrt); `fit` is refitted with each control of ci$tries until both bounds
#   are found.
# blup: TRUE -> ranef(res) as `ranef` (one list per term, named as metafor names them).
# prof: list(comp =, index = 0-based, steps = (a count), xlim =, tries =) ->
#   profile(res, comp = index + 1, steps, xlim, plot = FALSE) as `profile` (values, ll, and
#   b / ci_lb / ci_ub column-major, one row per value; ylim).
# pred: list(newmods =, ncol =, intercept =, tau2_levels =, gamma2_levels =, transf =, level =)
#   -> predict(res, ...) as `predict` (NULL entries are left to metafor's defaults).
# cluster/adjust/clubSandwich: when cluster is given, robust(res, cluster, adjust,
#   clubSandwich) too (mp_robust_fields in fam_robust.R).

mp_mv_num <- function(x) if (is.null(x)) NULL else as.numeric(unlist(x))

mp_mv_fields <- function(res) {
  fs <- res$fit.stats
  list(b = as.numeric(res$beta), se = as.numeric(res$se), zval = as.numeric(res$zval),
       pval = as.numeric(res$pval), ci_lb = as.numeric(res$ci.lb), ci_ub = as.numeric(res$ci.ub),
       vb = as.numeric(res$vb), coef_names = rownames(res$beta),
       sigma2 = if (res$withS) as.numeric(res$sigma2) else numeric(0),
       tau2 = if (res$withG) as.numeric(res$tau2) else numeric(0),
       rho = if (res$withG) as.numeric(res$rho) else numeric(0),
       gamma2 = if (res$withH) as.numeric(res$gamma2) else numeric(0),
       phi = if (res$withH) as.numeric(res$phi) else numeric(0),
       s_names = if (res$withS) as.character(res$s.names) else character(0),
       s_nlevels = if (res$withS) as.numeric(res$s.nlevels) else numeric(0),
       g_levels = if (res$withG) as.character(res$g.levels.f[[1]]) else character(0),
       QE = res$QE, QEp = res$QEp, QM = res$QM, QMp = res$QMp, QMdf = as.numeric(res$QMdf),
       ddf = as.numeric(res$ddf), k = res$k, p = res$p, parms = res$parms,
       ll_ML = fs["ll", "ML"], dev_ML = fs["dev", "ML"], AIC_ML = fs["AIC", "ML"],
       BIC_ML = fs["BIC", "ML"], AICc_ML = fs["AICc", "ML"],
       ll_REML = fs["ll", "REML"], dev_REML = fs["dev", "REML"], AIC_REML = fs["AIC", "REML"],
       BIC_REML = fs["BIC", "REML"], AICc_REML = fs["AICc", "REML"])
}

# The rma.mv fit behind mp_rma_mv and mp_anova_mv: list(res, args, ctl, failed, lls).
mp_mv_fit <- function(yi, V, V_nrow = NULL, data = NULL, random = NULL, struct = "CS",
                      X = NULL, X_names = NULL, R = NULL, Rscale = "cor", method = "REML",
                      test = "z", dfs = "residual", level = 95, sigma2 = NULL, tau2 = NULL,
                      rho = NULL, gamma2 = NULL, phi = NULL, control = NULL, ...) {
  yi <- mp_mv_num(yi)
  k <- length(yi)
  V <- mp_mv_num(V)
  if (!is.null(V_nrow)) V <- matrix(V, nrow = k)
  dat <- if (is.null(data)) data.frame(row = seq_len(k)) else
    as.data.frame(lapply(data, unlist), stringsAsFactors = FALSE)
  dat$yi <- yi
  Xm <- matrix(mp_mv_num(X), nrow = k)
  colnames(Xm) <- unlist(X_names)
  int <- ncol(Xm) >= 1 && all(Xm[, 1] == 1)
  mods <- if (int) { if (ncol(Xm) > 1) Xm[, -1, drop = FALSE] else NULL } else Xm
  rnd <- if (is.null(random)) NULL else lapply(unlist(random), as.formula)
  if (!is.null(rnd) && length(rnd) == 1) rnd <- rnd[[1]]
  Rl <- NULL
  if (!is.null(R)) {
    Rl <- lapply(R, function(r) {
      lev <- unlist(r$levels)
      m <- matrix(mp_mv_num(r$values), nrow = length(lev))
      dimnames(m) <- list(lev, lev)
      m
    })
  }
  # control: one control list, or a list of them (list(tries = list(...))): each is run and
  # the fit with the highest log-likelihood is kept; the one used comes back as `control`
  tries <- if (is.null(control)) list(list()) else if (!is.null(control$tries))
    control$tries else list(control)
  ctl <- tries[[1]]
  args <- list(yi = yi, V = V, intercept = int, data = dat, method = method, test = test,
               dfs = dfs, level = level, control = ctl)
  if (!is.null(mods)) args$mods <- mods
  if (!is.null(rnd)) { args$random <- rnd; args$struct <- unlist(struct) }
  if (!is.null(Rl)) { args$R <- Rl; args$Rscale <- Rscale }
  for (nm in c("sigma2", "tau2", "rho", "gamma2", "phi")) {
    v <- get(nm)
    if (!is.null(v)) args[[nm]] <- mp_mv_num(v)
  }
  # every control is run; the fit with the highest (restricted) log-likelihood is kept
  res <- NULL
  failed <- character(0)
  lls <- numeric(0)
  for (i in seq_along(tries)) {
    args$control <- tries[[i]]
    fit <- tryCatch(do.call(rma.mv, args), error = function(e) {
      failed <<- c(failed, conditionMessage(e))
      NULL
    })
    lls[i] <- if (is.null(fit)) NA_real_ else as.numeric(logLik(fit))
    if (!is.null(fit) && (is.null(res) || lls[i] > as.numeric(logLik(res)))) {
      res <- fit
      ctl <- tries[[i]]
    }
  }
  if (is.null(res)) stop(paste(unique(failed), collapse = "; "))
  list(res = res, args = args, ctl = ctl, failed = failed, lls = lls)
}

# the fit `res` refitted with control `ctl` (NULL: `res` itself; NULL when the refit fails)
mp_mv_refit <- function(res, args, ctl) {
  if (is.null(ctl)) return(res)
  args$control <- ctl
  tryCatch(do.call(rma.mv, args), error = function(e) NULL)
}

mp_rma_mv <- function(yi, V, V_nrow = NULL, data = NULL, random = NULL, struct = "CS",
                      X = NULL, X_names = NULL, R = NULL, Rscale = "cor", method = "REML",
                      test = "z", dfs = "residual", level = 95, sigma2 = NULL, tau2 = NULL,
                      rho = NULL, gamma2 = NULL, phi = NULL, control = NULL, at = NULL,
                      cluster = NULL, adjust = TRUE, clubSandwich = FALSE, pred = NULL,
                      ci = NULL, blup = FALSE, prof = NULL) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    f <- mp_mv_fit(yi, V, V_nrow, data, random, struct, X, X_names, R, Rscale, method, test,
                   dfs, level, sigma2, tau2, rho, gamma2, phi, control)
    res <- f$res; args <- f$args; ctl <- f$ctl; failed <- f$failed; lls <- f$lls
    fields <- mp_mv_fields(res)
    ll_at <- NULL
    if (!is.null(at)) {
      a2 <- args
      for (nm in c("sigma2", "tau2", "rho", "gamma2", "phi")) {
        if (!is.null(at[[nm]])) a2[[nm]] <- mp_mv_num(at[[nm]])
      }
      ra <- suppressWarnings(do.call(rma.mv, a2))
      ll_at <- list(ML = ra$fit.stats["ll", "ML"], REML = ra$fit.stats["ll", "REML"],
                    b = as.numeric(ra$beta))
    }
    rob <- NULL
    club <- NULL
    if (!is.null(cluster)) {
      adj <- if (is.character(adjust)) adjust else as.logical(adjust)
      rob <- mp_robust_fields(robust(res, cluster = unlist(cluster), adjust = adj,
                                     clubSandwich = isTRUE(clubSandwich)))
      if (isTRUE(clubSandwich)) club <- mp_club_direct(res, unlist(cluster))
    }
    prd <- NULL
    if (!is.null(pred)) {
      pa <- list(object = res)
      if (!is.null(pred$newmods))
        pa$newmods <- matrix(mp_mv_num(pred$newmods), ncol = pred$ncol)
      if (!is.null(pred$intercept)) pa$intercept <- as.logical(pred$intercept)
      if (!is.null(pred$tau2_levels)) pa$tau2.levels <- unlist(pred$tau2_levels)
      if (!is.null(pred$gamma2_levels)) pa$gamma2.levels <- unlist(pred$gamma2_levels)
      if (!is.null(pred$transf)) pa$transf <- get(pred$transf)
      if (!is.null(pred$level)) pa$level <- pred$level
      p <- do.call(predict, pa)
      num <- function(v) if (is.null(v)) NULL else as.numeric(v)
      prd <- list(pred = num(p$pred), se = num(p$se), ci_lb = num(p$ci.lb), ci_ub = num(p$ci.ub),
                  pi_lb = num(p$pi.lb), pi_ub = num(p$pi.ub))
    }
    cir <- NULL
    if (!is.null(ci)) {
      # the profile refits use the fit's optimiser: each of ci$tries is tried in turn (the
      # model refitted with it) until one gives both bounds; the one used is reported
      ci_tries <- if (is.null(ci$tries)) list(NULL) else ci$tries
      for (ctl_ci in ci_tries) {
        obj <- mp_mv_refit(res, args, ctl_ci)
        if (is.null(obj)) next
        ca <- list(object = obj, control = list(tol = 1e-12))
        ca[[ci$comp]] <- as.integer(ci$index) + 1L
        if (!is.null(ci$level)) ca$level <- ci$level
        cr <- tryCatch(suppressWarnings(do.call(confint, ca)), error = function(e) NULL)
        if (is.null(cr)) next
        cir <- list(estimate = as.numeric(cr$random[, "estimate"]),
                    ci_lb = as.numeric(cr$random[, "ci.lb"]),
                    ci_ub = as.numeric(cr$random[, "ci.ub"]), rows = rownames(cr$random),
                    lb_sign = cr$lb.sign, ub_sign = cr$ub.sign, control = ctl_ci)
        if (!anyNA(cr$random[1, c("ci.lb", "ci.ub")])) break
      }
      # metafor's own profile likelihood at the bounds given in ci$at (metaparity's): the
      # model refitted (every control of `control`, best kept) with the component fixed there
      if (!is.null(ci$at)) {
        lls_at <- sapply(mp_mv_num(ci$at), function(v) {
          fx <- get(ci$comp)
          n <- length(as.numeric(fields[[ci$comp]]))
          fx <- if (is.null(fx)) rep(NA_real_, n) else mp_mv_num(fx)
          fx[as.integer(ci$index) + 1L] <- v
          a4 <- list(yi, V, V_nrow, data, random, struct, X, X_names, R, Rscale, method, test,
                     dfs, level, sigma2, tau2, rho, gamma2, phi, control)
          names(a4) <- c("yi", "V", "V_nrow", "data", "random", "struct", "X", "X_names", "R",
                         "Rscale", "method", "test", "dfs", "level", "sigma2", "tau2", "rho",
                         "gamma2", "phi", "control")
          a4[ci$comp] <- list(fx)
          f4 <- tryCatch(do.call(mp_mv_fit, a4)$res, error = function(e) NULL)
          if (is.null(f4)) NA_real_ else as.numeric(logLik(f4))
        })
        cir$ll_at_bounds <- as.numeric(lls_at)
      }
    }
    pr <- NULL
    if (!is.null(prof)) {
      # profile(res, <comp> = index + 1, steps =, xlim =): the refits use the fit's optimiser;
      # each control of prof$tries is tried in turn (the model refitted with it) until every
      # profile refit succeeds (metafor reports NA for a failed one); the one used is reported
      p_tries <- if (is.null(prof$tries)) list(NULL) else prof$tries
      for (ctl_p in p_tries) {
        obj <- mp_mv_refit(res, args, ctl_p)
        if (is.null(obj)) next
        pa <- list(fitted = obj, steps = as.numeric(unlist(prof$steps)), plot = FALSE,
                   progbar = FALSE)
        pa[[prof$comp]] <- as.integer(prof$index) + 1L
        if (!is.null(prof$xlim)) pa$xlim <- as.numeric(unlist(prof$xlim))
        po <- tryCatch(do.call(profile, pa), error = function(e) NULL)
        if (is.null(po)) next
        pr <- list(values = as.numeric(po[[prof$comp]]), ll = as.numeric(po$ll),
                   b = as.numeric(as.matrix(po$beta)), ci_lb = as.numeric(as.matrix(po$ci.lb)),
                   ci_ub = as.numeric(as.matrix(po$ci.ub)), ylim = as.numeric(po$ylim),
                   control = ctl_p)
        if (!anyNA(po$ll)) break
      }
    }
    re <- NULL
    if (isTRUE(blup)) {
      re <- lapply(ranef(res), function(d) list(levels = rownames(d), intrcpt = d$intrcpt,
                                                se = d$se, pi_lb = d$pi.lb, pi_ub = d$pi.ub))
    }
    list(ok = TRUE, fields = fields, ll_at_ours = ll_at, at = at, robust = rob, club = club,
         predict = prd, confint = cir, ranef = re, profile = pr,
         printout = paste(capture.output(print(res)), collapse = "\n"),
         control = ctl, failed_controls = failed,
         loglik_per_control = lls)
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- unique(warns)
  out
}

# anova() for rma.mv fits: `full` (and `reduced`) are argument lists of mp_mv_fit; with
# `reduced`, the likelihood-ratio test (refit = TRUE refits both with ML when their fixed
# effects differ under REML); else the Wald test of `btt` (1-based) or of the contrasts `X`.
mp_anova_mv <- function(full, reduced = NULL, btt = NULL, X = NULL, X_ncol = NULL,
                        refit = FALSE) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    rf <- do.call(mp_mv_fit, full)$res
    num <- function(v) if (is.null(v)) NULL else as.numeric(v)
    if (!is.null(reduced)) {
      rr <- do.call(mp_mv_fit, reduced)$res
      a <- anova(rf, rr, refit = isTRUE(refit))
      list(ok = TRUE, type = "LRT", df_f = a$parms.f, df_r = a$parms.r,
           fit_stats_f = num(unlist(a$fit.stats.f)), fit_stats_r = num(unlist(a$fit.stats.r)),
           fit_stats_names = names(a$fit.stats.f), LRT = a$LRT, pval = a$pval, QE_f = a$QE.f,
           QE_r = a$QE.r)
    } else if (!is.null(X)) {
      a <- anova(rf, X = matrix(mp_mv_num(X), ncol = X_ncol))
      list(ok = TRUE, type = "Wald.Xb", Xb = num(a$Xb), se = num(a$se), zval = num(a$zval),
           pval = num(a$pval), QM = a$QM, QMdf = num(a$QMdf), QMp = a$QMp, ddf = num(a$ddf))
    } else {
      a <- anova(rf, btt = mp_mv_num(btt))
      list(ok = TRUE, type = "Wald.btt", QM = a$QM, QMdf = num(a$QMdf), QMp = a$QMp)
    }
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- unique(warns)
  out
}
