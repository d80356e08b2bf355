# rma.glmm conditional models for 2x2 tables (measure = "OR", model = "CM.EL").
# Tight control: BiasedUrn at precision 1e-15 (metafor's default 1e-10), integrate() at
# rel.tol 1e-10 (default eps^0.25 = 1.2e-4), nlminb with more evaluations, and numDeriv's
# own default Richardson depth r = 4 for the Hessians (metafor's r = 16 halves the step
# 15 times, to ~5e-8 relative, where the noise of dFNCHypergeo dominates the second
# differences: the saturated model's Hessian is then off by a factor of 100 and QE.Wld
# is 268.5 instead of 163.09 on dat.bcg; see docs/glmm.md).
mp_glmm_cm_control <- function(tight = TRUE, rel_tol = 1e-10, r = 4) {
  if (!tight) return(list())
  list(dnchgprec = 1e-15, hessianCtrl = list(r = r), intCtrl = list(rel.tol = rel_tol),
       optCtrl = list(eval.max = 1e4, iter.max = 1e4))
}

# metafor's own likelihood (.dnchg: BiasedUrn + integrate) at (beta, tau2); the design X
# is the one metafor fits (intercept first)
mp_glmm_cm_ll <- function(ai, bi, ci, di, X, beta, tau2, rel_tol = 1e-12, prec = 1e-15) {
  -metafor:::.dnchg(c(beta, log(tau2)), ai = ai, bi = bi, ci = ci, di = di, X.fit = X,
                    random = TRUE, verbose = FALSE, digits = c(est = 4, var = 4, fit = 4),
                    dnchgcalc = "dFNCHypergeo", dnchgprec = prec,
                    intCtrl = list(lower = -Inf, upper = Inf, rel.tol = rel_tol,
                                   subdivisions = 100L))
}

# The Wald test of the saturated model's study effects computed directly: conditional MLEs
# (optimize on dFNCHypergeo), their information varFNCHypergeo, a weighted least-squares
# fit of them on X.  Tables with a zero cell (infinite MLE, information -> 0) contribute 0.
mp_glmm_cm_wald <- function(ai, bi, ci, di, X) {
  n1 <- ai + bi; n2 <- ci + di; m1 <- ai + ci
  inner <- ai > pmax(0, m1 - n2) & ai < pmin(n1, m1)
  th <- w <- rep(NA_real_, length(ai))
  for (i in which(inner)) {
    f <- function(t) -log(BiasedUrn::dFNCHypergeo(ai[i], n1[i], n2[i], m1[i], exp(t),
                                                   precision = 1e-15))
    lor <- log(ai[i] * di[i] / (bi[i] * ci[i]))
    th[i] <- optimize(f, lor + c(-3, 3), tol = 1e-12)$minimum
    w[i] <- BiasedUrn::varFNCHypergeo(n1[i], n2[i], m1[i], exp(th[i]), precision = 1e-15)
  }
  fit <- lm.wfit(X[inner, , drop = FALSE], th[inner], w[inner])
  sum(w[inner] * fit$residuals^2)
}

mp_rma_glmm_cm <- function(ai, bi, ci, di, mods = NULL, level = 95, test = "z",
                           tight = TRUE, rel_tol = 1e-10, r = 4, at = NULL) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    ctl <- mp_glmm_cm_control(tight, rel_tol, r)
    M <- if (is.null(mods)) NULL else do.call(cbind, lapply(mods, as.numeric))
    t0 <- proc.time()[[3]]
    res <- if (is.null(M)) {
      rma.glmm(measure = "OR", ai = ai, bi = bi, ci = ci, di = di, model = "CM.EL",
               level = level, test = test, control = ctl)
    } else {
      rma.glmm(measure = "OR", ai = ai, bi = bi, ci = ci, di = di, mods = M, model = "CM.EL",
               level = level, test = test, control = ctl)
    }
    secs <- proc.time()[[3]] - t0
    fs <- res$fit.stats$ML
    fields <- list(b = as.numeric(res$beta), se = res$se, zval = res$zval, pval = res$pval,
                   ci_lb = res$ci.lb, ci_ub = res$ci.ub, tau2 = res$tau2,
                   se_tau2 = res$se.tau2, I2 = res$I2, H2 = res$H2, vt = res$vt,
                   QE_Wld = res$QE.Wld, QEp_Wld = res$QEp.Wld, QE_LRT = res$QE.LRT,
                   QEp_LRT = res$QEp.LRT, QM = res$QM, QMp = res$QMp, logLik = fs[1],
                   deviance = fs[2], AIC = fs[3], BIC = fs[4], AICc = fs[5], k = res$k,
                   p = res$p)
    keep <- res$not.na
    X <- cbind(rep(1, length(ai)), M)[keep, , drop = FALSE]
    a <- res$outdat$ai; b <- res$outdat$bi; c <- res$outdat$ci; d <- res$outdat$di
    ll <- list(at_fit = mp_glmm_cm_ll(a, b, c, d, X, fields$b, fields$tau2),
               at = if (is.null(at)) NA_real_ else
                 mp_glmm_cm_ll(a, b, c, d, X, at[-length(at)], at[length(at)]))
    list(ok = TRUE, control = ctl, fit = fields, metafor_ll = ll, seconds = secs,
         wald_direct = mp_glmm_cm_wald(a, b, c, d, X),
         version = as.character(packageVersion("metafor")))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  out$warnings <- warns
  out
}

# The conditional binomial-normal models fitted by glmer: measure = "OR", model = "CM.AL"
# (ai, bi, ci, di) and measure = "IRR", model = "CM.EL" (x1i, t1i, x2i, t2i). Tight glmer
# control as mp_rma_glmm (bobyqa rhoend 1e-12, tolPwrss 1e-13, relaxed to 1e-10 and to
# lme4's default only when PIRLS fails); the control used is returned.
mp_rma_glmm_cm_al <- function(measure = "OR", ai = NULL, bi = NULL, ci = NULL, di = NULL,
                              x1i = NULL, t1i = NULL, x2i = NULL, t2i = NULL, mods = NULL,
                              level = 95, test = "z", tight = TRUE) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    M <- if (is.null(mods)) NULL else do.call(cbind, lapply(mods, as.numeric))
    model <- if (measure == "OR") "CM.AL" else "CM.EL"
    res <- NULL
    for (tp in if (tight) list(1e-13, 1e-10, NULL) else list(NULL)) {
      ctl <- mp_glmm_control(tight, tp)
      args <- list(measure = measure, model = model, level = level, test = test, control = ctl)
      if (measure == "OR") args <- c(args, list(ai = ai, bi = bi, ci = ci, di = di))
      else args <- c(args, list(x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i))
      if (!is.null(M)) args$mods <- M
      res <- tryCatch(do.call(rma.glmm, args), error = function(e) e)
      if (!inherits(res, "error")) break
    }
    if (inherits(res, "error")) stop(res)
    fs <- res$fit.stats$ML
    fields <- list(b = as.numeric(res$beta), se = res$se, zval = res$zval, pval = res$pval,
                   ci_lb = res$ci.lb, ci_ub = res$ci.ub, tau2 = res$tau2,
                   I2 = res$I2, H2 = res$H2, vt = res$vt,
                   QE_Wld = res$QE.Wld, QEp_Wld = res$QEp.Wld, QE_LRT = res$QE.LRT,
                   QEp_LRT = res$QEp.LRT, QM = res$QM, QMp = res$QMp, logLik = fs[1],
                   deviance = fs[2], AIC = fs[3], BIC = fs[4], AICc = fs[5], k = res$k,
                   p = res$p)
    list(ok = TRUE, control = ctl, fit = fields, keep = res$not.na,
         version = as.character(packageVersion("metafor")))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  out$warnings <- warns
  out
}
