# Tool policies (metaparity.analysis.policies / explain): one random- or common-effect
# analysis of escalc'd yi/vi as a policy describes it, asked of metafor directly.
#   method: tau^2 estimator ("EE" for the common effect); tau2: a fixed tau^2 (NULL = estimate)
#   test: "z" / "knha" / "adhoc"; pi: "none" / "z" / "t_k2" / "t_k1" / "metafor"
#   tau2_ci: "none" / "QP" (confint(), Q-profile)
# Returns the fit's b, se, CI, tau2, QE, metafor's I2 (from tau^2), the Q-based I2, the
# tau^2 CI and the PI b +/- crit * sqrt(se^2 + tau2) computed by the rule named.
mp_policy_fit <- function(yi, vi, method = "REML", test = "z", tau2 = NULL, pi = "metafor",
                          tau2_ci = "none", level = 95) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    args <- list(yi = yi, vi = vi, method = method, test = test, level = level)
    if (!is.null(tau2)) args$tau2 <- tau2
    fit <- mp_fit_relaxed(args, vi)
    res <- fit$res
    k <- res$k
    df <- k - 1
    i2_q <- if (res$QE > 0) 100 * max(0, (res$QE - df) / res$QE) else 0
    alpha <- 1 - level / 100
    crit <- switch(pi, none = NA_real_, z = qnorm(1 - alpha / 2),
                   t_k2 = if (k > 2) qt(1 - alpha / 2, k - 2) else NA_real_,
                   t_k1 = qt(1 - alpha / 2, k - 1), metafor = NA_real_)
    spi <- sqrt(res$se^2 + res$tau2)
    pi_lb <- as.numeric(res$beta) - crit * spi
    pi_ub <- as.numeric(res$beta) + crit * spi
    if (pi == "metafor") {
      p <- predict(res)
      pi_lb <- p$pi.lb
      pi_ub <- p$pi.ub
    }
    t_lb <- NA_real_
    t_ub <- NA_real_
    if (tau2_ci == "QP") {
      ci <- confint(res, control = mp_confint_control_for(vi))$random
      t_lb <- ci["tau^2", "ci.lb"]
      t_ub <- ci["tau^2", "ci.ub"]
    }
    list(ok = TRUE, control = fit$control,
         fit = list(b = as.numeric(res$beta), se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub,
                    tau2 = res$tau2, QE = res$QE, I2 = res$I2, I2_Q = i2_q, k = k,
                    tau2_lb = t_lb, tau2_ub = t_ub, pi_lb = pi_lb, pi_ub = pi_ub))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- warns
  out
}

# RevMan 5's random effects with Mantel-Haenszel pooling (metaparity's revman5 policy):
# DerSimonian-Laird tau^2 from the Q about the MH estimate (rma.mh's QE, inverse-variance
# weights of the escalc'd yi/vi), then the inverse-variance model with that tau^2 held fixed.
# The zero-cell rule (add, to, drop00) acts on the escalc'd yi/vi (rma.mh's first elements);
# with mh_cc = TRUE it acts on the cells of the MH computation too (the second elements, as
# RevMan 5 and meta's MH.exact = FALSE do), otherwise the MH estimate uses the raw counts.
# pooling = "Peto": rma.peto's Q (about the Peto estimate) and escalc("PETO") yi/vi instead.
mp_policy_mh_dl <- function(ai, bi, ci, di, measure = "OR", add = 0.5, to = "only0",
                            drop00 = TRUE, test = "z", level = 95, pooling = "MH",
                            mh_cc = FALSE) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    if (pooling == "Peto") {
      mh <- rma.peto(ai = ai, bi = bi, ci = ci, di = di, add = c(add, 0),
                     to = c(to, "none"), drop00 = c(drop00, FALSE), level = level)
      measure <- "PETO"
    } else {
      second <- if (isTRUE(mh_cc)) list(add, to, drop00) else list(0, "none", FALSE)
      mh <- rma.mh(ai = ai, bi = bi, ci = ci, di = di, measure = measure,
                   add = c(add, second[[1]]), to = c(to, second[[2]]),
                   drop00 = c(drop00, second[[3]]), level = level)
    }
    es <- escalc(measure, ai = ai, bi = bi, ci = ci, di = di, add = add, to = to,
                 drop00 = drop00)
    ok <- is.finite(es$yi) & is.finite(es$vi)
    yi <- as.numeric(es$yi[ok])
    vi <- as.numeric(es$vi[ok])
    k <- length(yi)
    w <- 1 / vi
    cc <- sum(w) - sum(w^2) / sum(w)
    tau2 <- max(0, (mh$QE - (k - 1)) / cc)
    res <- rma(yi, vi, tau2 = tau2, test = test, level = level)
    i2_q <- if (mh$QE > 0) 100 * max(0, (mh$QE - (k - 1)) / mh$QE) else 0
    list(ok = TRUE,
         mh = list(b = as.numeric(mh$beta), se = mh$se, ci_lb = mh$ci.lb, ci_ub = mh$ci.ub,
                   QE = mh$QE, I2 = mh$I2, k = mh$k),
         fit = list(b = as.numeric(res$beta), se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub,
                    tau2 = tau2, QE = mh$QE, I2_Q = i2_q, k = k))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- warns
  out
}
