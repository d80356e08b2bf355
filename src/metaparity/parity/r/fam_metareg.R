# predict(), anova() and the fit statistics of rma.uni fits, with or without moderators
# (metafor::predict.rma, anova.rma, fitstats/logLik/deviance/AIC/BIC) for the parity bridge.
# Sourced after metaparity.R (mp_uni_args, mp_fit_relaxed, mp_guard).
#
# A model spec: yi, vi, X (column-major, k rows), X_names, method, test, level, and
# optionally weights (NULL: inverse-variance), weighted (TRUE), tau2 (NULL: estimated).
# mp_fit_spec fits it with rma() under the tight control of mp_rma (relaxed only when
# metafor's iteration cannot reach it).
# relax: NULL (the tightest threshold the fit itself reaches), that factor of mp_control_for,
# or Inf (metafor's default control).
mp_fit_spec <- function(yi, vi, X, X_names, method = "REML", test = "z", level = 95,
                        weights = NULL, weighted = TRUE, tau2 = NULL, relax = NULL) {
  args <- c(mp_uni_args(yi, vi, X, X_names, method, test), list(level = level))
  if (!is.null(weights)) args$weights <- as.numeric(unlist(weights))
  if (!isTRUE(weighted)) args$weighted <- FALSE
  if (!is.null(tau2)) args$tau2 <- as.numeric(tau2)
  if (identical(relax, Inf)) return(do.call(rma, args))
  if (!is.null(relax)) return(do.call(rma, c(args, list(control = mp_control_for(args$vi, relax)))))
  mp_fit_relaxed(args, args$vi)$res
}

mp_num <- function(v) if (is.null(v)) NULL else as.numeric(v)

# mp_predict_uni(newmods, newmods_nrow, intercept, transf, plevel, <model spec>): predict(res,
#   newmods =, intercept =, level = plevel (NULL: the model's), transf = exp | transf.ilogit |
#   NULL) of the fit of the spec. newmods: column-major numbers with newmods_nrow rows (NULL:
#   the fitted values).
mp_predict_uni <- function(newmods = NULL, newmods_nrow = NULL, intercept = TRUE,
                           transf = NULL, plevel = NULL, ...) {
  mp_guard({
    res <- mp_fit_spec(...)
    level <- list(...)$level
    if (is.null(level)) level <- 95
    f <- if (is.null(transf)) FALSE else switch(transf, exp = exp, ilogit = transf.ilogit)
    pa <- list(object = res, level = if (is.null(plevel)) level else plevel, transf = f)
    if (!is.null(newmods)) {
      nm <- as.numeric(unlist(newmods))
      pa$newmods <- matrix(nm, nrow = as.integer(newmods_nrow))
      pa$intercept <- isTRUE(intercept)
    }
    p <- do.call(predict, pa)
    list(tau2 = res$tau2, b = as.numeric(res$beta),
         pred = as.numeric(p$pred), se = as.numeric(p$se), ci_lb = as.numeric(p$ci.lb),
         ci_ub = as.numeric(p$ci.ub), pi_lb = as.numeric(p$pi.lb), pi_ub = as.numeric(p$pi.ub),
         slab = as.character(p$slab))
  })
}

# mp_anova_uni(btt, L, L_ncol, <model spec>): anova(res, btt =) (btt 1-based) or anova(res, X =
# L) (L column-major with L_ncol columns) of the fit of the spec.
mp_anova_uni <- function(btt = NULL, L = NULL, L_ncol = NULL, ...) {
  mp_guard({
    res <- mp_fit_spec(...)
    if (!is.null(L)) {
      a <- anova(res, X = matrix(as.numeric(unlist(L)), ncol = as.integer(L_ncol)))
      list(type = "Wald.Xb", Xb = mp_num(a$Xb), se = mp_num(a$se), zval = mp_num(a$zval),
           pval = mp_num(a$pval), QM = mp_num(a$QM), QMdf = mp_num(a$QMdf), QMp = mp_num(a$QMp))
    } else {
      a <- anova(res, btt = as.integer(unlist(btt)))
      list(type = "Wald.btt", QM = a$QM, QMdf = mp_num(a$QMdf), QMp = a$QMp)
    }
  })
}

# mp_fitstats_of(res): metafor's fit.stats (ML and REML columns), parms, and what the
# extractors logLik(), deviance(), AIC(), BIC() and fitstats() report.
mp_fitstats_of <- function(res) {
  fs <- res$fit.stats
  list(parms = res$parms, ML = as.numeric(fs[, "ML"]), REML = as.numeric(fs[, "REML"]),
       rows = rownames(fs), logLik = as.numeric(logLik(res)), logLik_df = attr(logLik(res), "df"),
       deviance = as.numeric(deviance(res)), AIC = as.numeric(AIC(res)),
       BIC = as.numeric(BIC(res)), AICc = as.numeric(fitstats(res)[5, 1]),
       b = as.numeric(res$beta), tau2 = res$tau2)
}

# mp_fitstats_uni(spec...): the fit statistics of one rma fit (a model spec, as mp_fit_spec).
mp_fitstats_uni <- function(...) {
  mp_guard(mp_fitstats_of(mp_fit_spec(...)))
}

# mp_lrt_uni(full, reduced, refit): anova(full, reduced, refit =) of two model specs (lists
# of mp_fit_spec's arguments): the LRT table's numbers.
mp_lrt_uni <- function(full, reduced, refit = FALSE) {
  mp_guard({
    f <- do.call(mp_fit_spec, full)
    r <- do.call(mp_fit_spec, reduced)
    a <- anova(f, r, refit = isTRUE(refit))
    list(type = "LRT", parms_f = a$parms.f, parms_r = a$parms.r,
         fit_stats_f = as.numeric(a$fit.stats.f), fit_stats_r = as.numeric(a$fit.stats.r),
         LRT = a$LRT, pval = a$pval, QE_f = a$QE.f, QE_r = a$QE.r, tau2_f = a$tau2.f,
         tau2_r = a$tau2.r, R2 = a$R2, method = a$method)
  })
}

# mp_confint_uni(clevel, <model spec>): confint(res, fixed = TRUE, level = clevel (NULL: the
# model's)) with a tight root tolerance and no practical cap on tau2.max: the random table
# (tau^2, tau, I^2(%), H^2 rows; estimate, ci.lb, ci.ub) and the fixed one.
mp_confint_uni <- function(clevel = NULL, ...) {
  mp_guard({
    res <- mp_fit_spec(...)
    ca <- list(object = res, fixed = TRUE, control = mp_confint_control_for(res$vi))
    if (!is.null(clevel)) ca$level <- clevel
    ci <- do.call(confint, ca)
    rr <- ci$random
    fx <- ci$fixed
    list(rows = rownames(rr), estimate = as.numeric(rr[, "estimate"]),
         ci_lb = as.numeric(rr[, "ci.lb"]), ci_ub = as.numeric(rr[, "ci.ub"]),
         b = as.numeric(fx[, "estimate"]), b_lb = as.numeric(fx[, "ci.lb"]),
         b_ub = as.numeric(fx[, "ci.ub"]), tau2 = res$tau2)
  })
}

# mp_regplot_uni(mod, label, psize, plim, transf, <model spec>): regplot(res, mod = (1-based),
# label =, psize = "seinv" | "vinv" | NULL, plim =, transf = exp | NULL) drawn on a null device:
# the data frame it returns (xi, yi, psize, order 1-based, pred at each study, label).
mp_regplot_uni <- function(mod, label = FALSE, psize = NULL, plim = c(0.5, 3), transf = NULL, ...) {
  mp_guard({
    res <- mp_fit_spec(...)
    grDevices::pdf(NULL)
    on.exit(grDevices::dev.off(), add = TRUE)
    ra <- list(x = res, mod = as.integer(mod), label = label, plim = as.numeric(unlist(plim)))
    if (!is.null(psize)) ra$psize <- psize
    if (!is.null(transf)) ra$transf <- switch(transf, exp = exp)
    s <- do.call(regplot, ra)
    list(xi = as.numeric(s$xi), yi = as.numeric(s$yi), psize = as.numeric(s$psize),
         order = as.integer(s$order), pred = mp_num(s$pred), label = as.logical(s$label))
  })
}

# mp_permutest_uni(exact, iter, seed, btt, alternative, p2defn, stat, <model spec>):
# set.seed(seed); permutest(res, exact =, iter =, btt = (1-based, NULL: the model's),
# progbar = FALSE, control = list(alternative, p2defn, stat)): the p-values and, per
# coefficient, the permutation distribution sorted (zval.perm, beta.perm) and QM.perm sorted.
mp_permutest_uni <- function(exact = FALSE, iter = 1000, seed = 1, btt = NULL,
                             alternative = "two.sided", p2defn = "abs", stat = "test", ...) {
  mp_guard({
    # permutest refits every permutation under the model's control: a permutation whose
    # iteration cannot reach the tight threshold is dropped (NA) by metafor, so relax the
    # threshold (100x, at most twice) until every refit converges, as mp_fit_relaxed does
    for (relax in c(1, 100, 10000)) {
      res <- tryCatch(mp_fit_spec(..., relax = relax), error = function(e) e)
      if (inherits(res, "error")) next
      set.seed(as.integer(seed))
      pa <- list(x = res, exact = isTRUE(exact), iter = as.numeric(iter), progbar = FALSE,
                 control = list(alternative = alternative, p2defn = p2defn, stat = stat))
      if (!is.null(btt)) pa$btt <- as.integer(unlist(btt))
      pt <- do.call(permutest, pa)
      if (!anyNA(pt$QM.perm)) break
    }
    zp <- as.matrix(pt$zval.perm); bp <- as.matrix(pt$beta.perm)
    srt <- function(m) lapply(seq_len(ncol(m)), function(j) sort(m[, j], na.last = TRUE))
    list(pval = as.numeric(pt$pval), QMp = as.numeric(pt$QMp), exact_iter = as.numeric(pt$exact.iter),
         relax = relax, failed = sum(is.na(pt$QM.perm)),
         iter = length(pt$QM.perm),
         zval_perm = srt(zp), beta_perm = srt(bp), QM_perm = sort(as.numeric(pt$QM.perm), na.last = TRUE))
  })
}

# mp_profile_uni(xlim, steps, <model spec>): profile(res, xlim =, steps =, plot = FALSE): the
# tau^2 values, the profiled log-likelihoods, and per value the coefficients and CI bounds.
mp_profile_uni <- function(xlim, steps = 20, ...) {
  mp_guard({
    res <- mp_fit_spec(...)
    grDevices::pdf(NULL)
    on.exit(grDevices::dev.off(), add = TRUE)
    pr <- profile(res, xlim = as.numeric(unlist(xlim)), steps = as.numeric(unlist(steps)),
                  plot = FALSE, progbar = FALSE)
    m <- function(d) lapply(seq_len(ncol(d)), function(j) as.numeric(d[[j]]))
    list(tau2 = as.numeric(pr$tau2), ll = as.numeric(pr$ll), b = m(pr$beta),
         ci_lb = m(pr$ci.lb), ci_ub = m(pr$ci.ub), maxll = as.numeric(logLik(res)))
  })
}

# mp_vif_uni(btt, reestimate, <model spec>): vif(res, btt = (a list of 1-based index vectors,
# NULL: the default), reestimate =): each set's (G)VIF and (G)SIF.
mp_vif_uni <- function(btt = NULL, reestimate = FALSE, ...) {
  mp_guard({
    res <- mp_fit_spec(...)
    va <- list(x = res, reestimate = isTRUE(reestimate), progbar = FALSE)
    if (!is.null(btt)) va$btt <- unname(lapply(btt, function(b) as.integer(unlist(b))))
    v <- do.call(vif, va)
    list(vif = as.numeric(sapply(v$vif, function(d) d$vif)),
         sif = as.numeric(sapply(v$vif, function(d) d$sif)),
         m = as.numeric(sapply(v$vif, function(d) d$m)))
  })
}

# mp_influence_uni(btt, <model spec>): the case diagnostics of the fit of the spec --
# influence(res) (its table, inf as bools, dfbs column-major), influence(res, btt =) for
# Cook's distances and covariance ratios (btt 1-based; NULL: metafor's default),
# rstudent(), rstandard(), hatvalues(), cooks.distance(), dfbetas(), baujat()'s
# coordinates, and what leave1out() says (an error for meta-regressions).
mp_influence_uni <- function(btt = NULL, ...) {
  mp_guard({
    part <- function(expr) tryCatch(expr, error = function(e) list(error = conditionMessage(e)))
    num <- function(v) as.numeric(unlist(v))
    # influence() refits without each study under the model's control: a refit whose
    # iteration cannot reach the tight threshold is NA in metafor's table, so relax the
    # threshold (100x, at most twice) until no more refits fail than under metafor's
    # default control (those fail for the model's own reasons: a coefficient inestimable)
    n_fail <- function(r) sum(is.na(influence(r)$inf$tau2.del))
    base <- n_fail(mp_fit_spec(..., relax = Inf))
    for (relax in c(1, 100, 10000)) {
      res <- mp_fit_spec(..., relax = relax)
      inf <- influence(res)
      if (sum(is.na(inf$inf$tau2.del)) <= base) break
    }
    ib <- if (is.null(btt)) inf else influence(res, btt = as.integer(unlist(btt)))
    rs <- rstudent(res)
    rd <- rstandard(res)
    grDevices::pdf(NULL)
    bj <- part(baujat(res))
    grDevices::dev.off()
    l1o <- part({ leave1out(res); list(error = "") })
    list(
      tau2 = res$tau2, b = as.numeric(res$beta), relax = relax,
      influence = list(rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits),
                       cook.d = num(inf$inf$cook.d), cov.r = num(inf$inf$cov.r),
                       tau2.del = num(inf$inf$tau2.del), QE.del = num(inf$inf$QE.del),
                       hat = num(inf$inf$hat), weight = num(inf$inf$weight),
                       inf = as.logical(inf$is.infl & !is.na(inf$is.infl))),
      btt = list(cook.d = num(ib$inf$cook.d), cov.r = num(ib$inf$cov.r),
                 inf = as.logical(ib$is.infl & !is.na(ib$is.infl))),
      rstudent = list(resid = num(rs$resid), se = num(rs$se), z = num(rs$z)),
      rstandard = list(resid = num(rd$resid), se = num(rd$se), z = num(rd$z)),
      hatvalues = num(hatvalues(res)),
      cooks = num(cooks.distance(res)),
      dfbetas = num(as.matrix(dfbetas(res))), p = res$p,
      baujat = if (!is.null(bj$error)) bj else list(x = num(bj$x), y = num(bj$y)),
      leave1out = l1o$error
    )
  })
}

# mp_hc_uni(transf, tol, <model spec>): hc(res, transf =, control = list(tol =)) of the fit
# of the spec, with the integral of the defining equation at rel.tol 1e-13 (hc() passes no
# tolerance to integrate(): its default eps^(1/4) is the only limit once uniroot's tol is
# tight, so metafor's own hc.rma.uni is run with integrate() re-bound in its environment);
# "plain": the same without that (integrate's default), "default": hc(res, transf =).
mp_hc_uni <- function(transf = NULL, tol = NULL, ...) {
  mp_guard({
    res <- mp_fit_spec(...)
    f <- if (is.null(transf)) FALSE else switch(transf, exp = exp, ilogit = transf.ilogit)
    q <- c("beta", "se", "ci.lb", "ci.ub", "beta.rma", "se.rma", "ci.lb.rma", "ci.ub.rma",
           "tau2", "tau2.rma")
    pick <- function(h) c(setNames(lapply(q, function(n) as.numeric(h[[n]])), q),
                          list(method = h$method, method.rma = h$method.rma))
    ctl <- if (is.null(tol)) list() else list(tol = as.numeric(tol))
    tight <- metafor:::hc.rma.uni
    env <- new.env(parent = environment(tight))
    env$integrate <- function(..., rel.tol, abs.tol)
      stats::integrate(..., rel.tol = 1e-13, abs.tol = 0, subdivisions = 1000L)
    environment(tight) <- env
    c(pick(tight(res, transf = f, control = ctl)),
      list(plain = pick(hc(res, transf = f, control = ctl)), default = pick(hc(res, transf = f))))
  })
}
