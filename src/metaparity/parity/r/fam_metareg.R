# predict() and anova() of rma.uni meta-regressions (metafor::predict.rma, anova.rma) for the parity bridge.
# Sourced after metaparity.R (mp_uni_args, mp_fit_relaxed).
#
# mp_predict_uni(yi, vi, X, X_names, method, test, level, newmods, newmods_nrow, intercept,
#                transf, plevel):
#   rma(yi, vi, mods = X[, -1] | X, ...) with the tight control of mp_rma (relaxed only when
#   metafor's iteration cannot reach it), then predict(res, newmods =, intercept =, level =
#   plevel (NULL: the model's), transf = exp | transf.ilogit | NULL). newmods: column-major
#   numbers with newmods_nrow rows (NULL: the fitted values).
mp_predict_uni <- function(yi, vi, X, X_names, method = "REML", test = "z", level = 95,
                           newmods = NULL, newmods_nrow = NULL, intercept = TRUE,
                           transf = NULL, plevel = NULL) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    args <- c(mp_uni_args(yi, vi, X, X_names, method, test), list(level = level))
    res <- mp_fit_relaxed(args, args$vi)$res
    f <- if (is.null(transf)) FALSE else switch(transf, exp = exp, ilogit = transf.ilogit)
    pa <- list(object = res, level = if (is.null(plevel)) level else plevel, transf = f)
    if (!is.null(newmods)) {
      nm <- as.numeric(unlist(newmods))
      pa$newmods <- matrix(nm, nrow = as.integer(newmods_nrow))
      pa$intercept <- isTRUE(intercept)
    }
    p <- do.call(predict, pa)
    list(ok = TRUE, tau2 = res$tau2, b = as.numeric(res$beta),
         pred = as.numeric(p$pred), se = as.numeric(p$se), ci_lb = as.numeric(p$ci.lb),
         ci_ub = as.numeric(p$ci.ub), pi_lb = as.numeric(p$pi.lb), pi_ub = as.numeric(p$pi.ub),
         slab = as.character(p$slab))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- unique(warns)
  out
}

# mp_anova_uni(yi, vi, X, X_names, method, test, level, btt, L, L_ncol): anova(res, btt =) (btt
# 1-based) or anova(res, X = L) (L column-major with L_ncol columns) of the rma fit above.
mp_anova_uni <- function(yi, vi, X, X_names, method = "REML", test = "z", level = 95,
                         btt = NULL, L = NULL, L_ncol = NULL) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    args <- c(mp_uni_args(yi, vi, X, X_names, method, test), list(level = level))
    res <- mp_fit_relaxed(args, args$vi)$res
    num <- function(v) if (is.null(v)) NULL else as.numeric(v)
    if (!is.null(L)) {
      a <- anova(res, X = matrix(as.numeric(unlist(L)), ncol = as.integer(L_ncol)))
      list(ok = TRUE, type = "Wald.Xb", Xb = num(a$Xb), se = num(a$se), zval = num(a$zval),
           pval = num(a$pval), QM = num(a$QM), QMdf = num(a$QMdf), QMp = num(a$QMp))
    } else {
      a <- anova(res, btt = as.integer(unlist(btt)))
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
