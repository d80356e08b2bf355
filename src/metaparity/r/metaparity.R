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

mp_versions <- function() {
  list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
       metadat = tryCatch(as.character(packageVersion("metadat")), error = function(e) NA_character_),
       platform = R.version$platform)
}

# rma + predict (+ transformed predict) + confint; errors and warnings captured.
mp_rma <- function(yi, vi, method, test, level = 95, weights = NULL, measure = "GEN",
                   ni = NULL, transf = NULL) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    args <- list(yi = yi, vi = vi, method = method, test = test, level = level)
    if (!is.null(weights)) args$weights <- weights
    # Tightest threshold metafor's iteration can reach: when rounding noise keeps
    # the steps above it ("did not converge"), relax by 100x, at most twice.
    res <- NULL
    for (relax in c(1, 100, 10000)) {
      ctl <- mp_control_for(vi, relax)
      res <- tryCatch(do.call(rma, c(args, list(control = ctl))), error = function(e) e)
      if (!inherits(res, "error") || !grepl("converge", conditionMessage(res))) break
    }
    if (inherits(res, "error")) stop(res)
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

# Meta-regression: rma(yi, vi, mods = ...) with the same tight control as mp_rma.
# X is the full design matrix (k x p). When its first column is all 1 it is the
# intercept: the call is rma(yi, vi, mods = X[, -1], intercept = TRUE), the call a
# user writes, so that QM (btt) and R2 (vs the intercept-only fit) are metafor's.
# An X of only the intercept column is fitted as rma(yi, vi) (no moderators).
mp_rma_mods <- function(yi, vi, X, method, test = "z", level = 95) {
  warns <- character(0)
  X <- as.matrix(X)
  if (is.null(colnames(X))) colnames(X) <- paste0("X", seq_len(ncol(X)))
  has_int <- all(X[, 1] == 1)
  out <- withCallingHandlers(tryCatch({
    args <- list(yi = yi, vi = vi, method = method, test = test, level = level)
    if (has_int) {
      if (ncol(X) > 1) args$mods <- X[, -1, drop = FALSE]
    } else {
      args$mods <- X
      args$intercept <- FALSE
    }
    res <- NULL
    for (relax in c(1, 100, 10000)) {
      ctl <- mp_control_for(vi, relax)
      res <- tryCatch(do.call(rma, c(args, list(control = ctl))), error = function(e) e)
      if (!inherits(res, "error") || !grepl("converge", conditionMessage(res))) break
    }
    if (inherits(res, "error")) stop(res)
    nul <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
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
    res <- NULL
    for (relax in c(1, 100, 10000)) {
      ctl <- mp_control_for(vi, relax)
      res <- tryCatch(do.call(rma, c(args, list(control = ctl))), error = function(e) e)
      if (!inherits(res, "error") || !grepl("converge", conditionMessage(res))) break
    }
    if (inherits(res, "error")) stop(res)
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
mp_to_json <- function(obj) {
  jsonlite::toJSON(mp_json_prep(obj), auto_unbox = TRUE, json_verbatim = TRUE,
                   null = "null", na = "null", pretty = FALSE)
}
