# Cluster-robust inference (metafor::robust) for the parity bridge.  Sourced after
# metaparity.R and fam_mv.R.
#
# mp_robust_fields(rob): the fields of a robust.rma object as plain lists.
# mp_robust_uni(yi, vi, X, X_names, method, test, weights, cluster, adjust, clubSandwich):
#   rma(yi, vi, mods = X[, -1] | X, ...) with tight control, then robust().
# (rma.mv fits: mp_rma_mv(..., cluster =, adjust =, clubSandwich =) in fam_mv.R.)

mp_robust_fields <- function(rob) {
  list(b = as.numeric(rob$beta), se = as.numeric(rob$se), zval = as.numeric(rob$zval),
       pval = as.numeric(rob$pval), ci_lb = as.numeric(rob$ci.lb),
       ci_ub = as.numeric(rob$ci.ub), vb = as.numeric(rob$vb), QM = rob$QM,
       QMp = rob$QMp, QMdf = as.numeric(rob$QMdf), dfs = as.numeric(rob$dfs), n = rob$n,
       vbest = as.character(rob$vbest))
}

# clubSandwich called directly (not through metafor): CR2 vcov, Satterthwaite coef tests and
# the HTZ Wald test of the coefficients btt -- the numbers metafor's clubSandwich route shows.
mp_club_direct <- function(res, cluster) {
  vc <- clubSandwich::vcovCR(res, cluster = cluster, type = "CR2")
  ct <- clubSandwich::coef_test(res, vcov = vc, test = "Satterthwaite", cluster = cluster)
  out <- list(se = as.numeric(ct$SE), df = as.numeric(ct$df_Satt), vb = as.numeric(vc),
              package = as.character(packageVersion("clubSandwich")))
  if (!res$int.only) {
    wt <- clubSandwich::Wald_test(res, constraints = clubSandwich::constrain_zero(res$btt),
                                  vcov = vc, test = "HTZ", cluster = cluster)
    out$F <- wt$Fstat; out$df_denom <- wt$df_denom; out$p <- wt$p_val
  }
  out
}

mp_robust_uni <- function(yi, vi, X, X_names, method = "REML", test = "z", weights = NULL,
                          cluster, adjust = TRUE, clubSandwich = FALSE) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    args <- c(mp_uni_args(yi, vi, X, X_names, method, test),
              list(control = list(threshold = 1e-14, maxiter = 10000, tol = 1e-15)))
    if (!is.null(weights)) args$weights <- mp_mv_num(weights)
    res <- do.call(rma, args)
    cl <- unlist(cluster)
    adj <- if (is.character(adjust)) adjust else as.logical(adjust)
    rob <- robust(res, cluster = cl, adjust = adj, clubSandwich = isTRUE(clubSandwich))
    list(ok = TRUE, robust = mp_robust_fields(rob), tau2 = res$tau2, b = as.numeric(res$beta),
         club = if (isTRUE(clubSandwich)) mp_club_direct(res, cl) else NULL)
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- unique(warns)
  out
}
