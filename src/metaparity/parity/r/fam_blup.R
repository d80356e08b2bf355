# BLUPs of rma.uni fits (metafor::blup.rma.uni, metafor::ranef.rma.uni) for the parity
# bridge.  Sourced after metaparity.R (mp_uni_args).
#
# mp_blup_uni(yi, vi, X, X_names, method, test, level, tau2, transf, blevel):
#   rma(yi, vi, mods = X[, -1] | X, ...) with the tight control of mp_rma (relaxed only when
#   metafor's iteration cannot reach it), then blup() and ranef() at level blevel (NULL: the
#   model's), transformed by transf ("exp", "ilogit", "ztor", NULL).  tau2: fixed (NULL:
#   estimated).

mp_list_rma <- function(x) {
  list(pred = as.numeric(x$pred), se = as.numeric(x$se), pi_lb = as.numeric(x$pi.lb),
       pi_ub = as.numeric(x$pi.ub), slab = as.character(x$slab))
}

mp_blup_uni <- function(yi, vi, X, X_names, method = "REML", test = "z", level = 95,
                        tau2 = NULL, transf = NULL, blevel = NULL) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    args <- c(mp_uni_args(yi, vi, X, X_names, method, test), list(level = level))
    if (!is.null(tau2)) args$tau2 <- as.numeric(tau2)
    res <- mp_fit_relaxed(args, args$vi)$res
    f <- if (is.null(transf)) FALSE else switch(transf, exp = exp, ilogit = transf.ilogit,
                                                ztor = transf.ztor)
    lv <- if (is.null(blevel)) level else blevel
    list(ok = TRUE, tau2 = res$tau2, b = as.numeric(res$beta),
         blup = mp_list_rma(blup(res, level = lv, transf = f)),
         ranef = mp_list_rma(ranef(res, level = lv, transf = f)))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- unique(warns)
  out
}
