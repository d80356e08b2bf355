# The bundled reproduction cases (metaparity.reproduce.cases), refitted by metafor:
#   mp_case(model = "uni"|"mh"|"peto", measure, args = list(ai=, n1i=, ...), method)
# returns the fields the cases print (b, se, zval, pval, ci.lb/ub, QE, QEp, I2, H2, tau2,
# MH, TA, k, the back-transformed prediction) and the warnings metafor gave.
mp_case <- function(model, measure, args, method = "REML") {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    args <- lapply(args, as.numeric)
    res <- switch(model,
      uni = do.call(metafor::rma, c(args, list(measure = measure, method = method))),
      mh = do.call(metafor::rma.mh, c(args, list(measure = measure))),
      peto = do.call(metafor::rma.peto, args),
      stop("unknown model ", model))
    ratio <- measure %in% c("OR", "RR", "PETO", "IRR")
    p <- if (ratio) predict(res, transf = exp) else predict(res)
    num <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
    list(ok = TRUE, b = num(res$beta), se = num(res$se), zval = num(res$zval),
         pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
         QE = num(res$QE), QEp = num(res$QEp), I2 = num(res$I2), H2 = num(res$H2),
         tau2 = num(res$tau2), MH = num(res$MH), TA = num(res$TA), k = num(res$k),
         QE_df = num(res$k.yi) - 1,
         pred = num(p$pred), pred_ci_lb = num(p$ci.lb), pred_ci_ub = num(p$ci.ub))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- warns
  out
}
