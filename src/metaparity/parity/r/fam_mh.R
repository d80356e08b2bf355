# metafor::rma.mh for metaparity's parity tests and goldens (sourced after metaparity.R).
# mp_rma_mh(measure, args, ...) returns every field of the fit, predict(transf = exp),
# leave1out() and cumul() tables (both without and with transf = exp) and the warnings.

mp_mh_table <- function(x, has_k = FALSE) {
  out <- list(estimate = as.numeric(x$estimate), se = as.numeric(x$se),
              zval = as.numeric(x$zval), pval = as.numeric(x$pval),
              ci_lb = as.numeric(x$ci.lb), ci_ub = as.numeric(x$ci.ub), Q = as.numeric(x$Q),
              Qp = as.numeric(x$Qp), I2 = as.numeric(x$I2), H2 = as.numeric(x$H2),
              slab = as.character(x$slab))
  if (!is.null(x$k)) out$k <- as.numeric(x$k)
  out
}

mp_rma_mh <- function(measure, args, add = 0.5, to = "only0", drop00 = TRUE, correct = TRUE,
                      level = 95, slab = NULL) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    call <- c(lapply(args, function(v) as.numeric(unlist(v))),
              list(measure = measure, add = add, to = to, drop00 = drop00, correct = correct,
                   level = level))
    if (!is.null(slab)) call$slab <- as.character(unlist(slab))
    res <- do.call(rma.mh, call)
    num <- function(v) if (is.null(v)) NA_real_ else as.numeric(v)
    fields <- list(b = num(res$beta), se = num(res$se), zval = num(res$zval),
                   pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
                   QE = num(res$QE), QEp = num(res$QEp), I2 = num(res$I2), H2 = num(res$H2),
                   CO = num(res$CO), COp = num(res$COp), MH = num(res$MH), MHp = num(res$MHp),
                   BD = num(res$BD), BDp = num(res$BDp), TA = num(res$TA), TAp = num(res$TAp),
                   k = num(res$k), k_yi = num(res$k.yi), k_pos = num(res$k.pos),
                   tau2 = num(res$tau2))
    p <- predict(res)
    pt <- if (measure %in% c("OR", "RR", "IRR")) predict(res, transf = exp) else p
    pr <- function(q) list(pred = num(q$pred), se = num(q$se), ci_lb = num(q$ci.lb),
                           ci_ub = num(q$ci.ub), pi_lb = num(q$pi.lb), pi_ub = num(q$pi.ub))
    l1o <- if (res$k > 1) mp_mh_table(suppressWarnings(leave1out(res))) else NULL
    l1o_t <- if (res$k > 1) mp_mh_table(suppressWarnings(leave1out(res, transf = TRUE))) else NULL
    cu <- mp_mh_table(suppressWarnings(cumul(res)))
    cu_t <- mp_mh_table(suppressWarnings(cumul(res, transf = TRUE)))
    list(ok = TRUE, fit = fields, yi = as.numeric(res$yi), vi = as.numeric(res$vi),
         predict = pr(p), predict_transf = pr(pt), leave1out = l1o, leave1out_transf = l1o_t,
         cumul = cu, cumul_transf = cu_t, print = paste(capture.output(print(res)), collapse = "\n"),
         metafor = as.character(packageVersion("metafor")))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  out$warnings <- warns
  out
}
