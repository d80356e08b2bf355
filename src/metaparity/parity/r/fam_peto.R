# Peto's method (metafor::rma.peto) for the parity bridge: every field, predict(transf = exp),
# leave1out, cumul and the warnings, as plain lists.  Sourced after metaparity.R.
#
# add, to, drop00 take one or two values as in rma.peto (drop00 may come as 0/1 numbers).
# order: optional numbers for cumul(); NULL = data order.

mp_peto_table <- function(x) {
  num <- function(v) if (is.null(v)) NULL else as.numeric(v)
  list(k = num(x$k), estimate = num(x$estimate), se = num(x$se), zval = num(x$zval),
       pval = num(x$pval), ci_lb = num(x$ci.lb), ci_ub = num(x$ci.ub), Q = num(x$Q),
       Qp = num(x$Qp), I2 = num(x$I2), H2 = num(x$H2), slab = as.character(x$slab))
}

mp_rma_peto <- function(ai, bi, ci, di, add = 0.5, to = "only0", drop00 = TRUE, level = 95,
                        order = NULL) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    drop00 <- as.logical(unlist(drop00))
    add <- as.numeric(unlist(add)); to <- as.character(unlist(to))
    res <- rma.peto(ai = ai, bi = bi, ci = ci, di = di, add = add, to = to, drop00 = drop00,
                    level = level)
    fields <- list(b = as.numeric(res$beta), se = res$se, zval = res$zval, pval = res$pval,
                   ci_lb = res$ci.lb, ci_ub = res$ci.ub, QE = res$QE, QEp = res$QEp,
                   I2 = res$I2, H2 = res$H2, tau2 = res$tau2, k = res$k, k_yi = res$k.yi,
                   k_pos = res$k.pos)
    p <- predict(res)
    pt <- predict(res, transf = exp)
    pred <- list(pred = p$pred, se = p$se, ci_lb = p$ci.lb, ci_ub = p$ci.ub)
    ptr <- list(transf = "exp", pred = pt$pred, ci_lb = pt$ci.lb, ci_ub = pt$ci.ub)
    l1o <- if (res$k > 1) mp_peto_table(suppressWarnings(leave1out(res))) else NULL
    l1o_exp <- if (res$k > 1) mp_peto_table(suppressWarnings(leave1out(res, transf = exp))) else NULL
    cu <- if (is.null(order)) cumul(res) else {
      ord <- as.numeric(unlist(order))
      cumul(res, order = ord)
    }
    list(ok = TRUE, fields = fields, yi = as.numeric(res$yi), vi = as.numeric(res$vi),
         predict = pred, predict_transf = ptr, leave1out = l1o, leave1out_exp = l1o_exp,
         cumul = mp_peto_table(cu), printout = paste(capture.output(print(res)), collapse = "\n"),
         call = sprintf("rma.peto(ai, bi, ci, di, add = %s, to = %s, drop00 = %s, level = %s)",
                        deparse1(add), deparse1(to), deparse1(drop00), deparse1(level)))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- unique(warns)
  out
}
