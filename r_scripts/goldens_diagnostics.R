#!/usr/bin/env Rscript
# Golden results for metaparity's issue-8 functions, computed with metafor.
#
#   Rscript r_scripts/goldens_diagnostics.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/diagnostics.json)
#
# The very R functions the live bridge calls (src/metaparity/r/metaparity.R):
#   mp_rma_mods   meta-regression            rma(yi, vi, mods = X[, -1])
#   mp_influence  case diagnostics           leave1out, influence, rstudent, rstandard, cumul, baujat
#   mp_bias       small-study methods        ranktest, regtest (rma/lm x 6 predictors), trimfill, fsn
#   mp_rma_glmm   binomial-normal model      rma.glmm(measure = "PLO") via lme4::glmer
# on metadat data sets and selinexor counts (Tao, Zhou & Niu 2021). Each record holds the
# inputs (yi, vi, X/colnames or xi, ni; method, test, level) next to metafor's outputs, so
# that tests/test_goldens_diagnostics.py can replay it without R. Numbers at %.17g; the
# provenance block records R, metafor, metadat and lme4 versions, the calls and control=.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "diagnostics.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
suppressPackageStartupMessages(library(metadat))
t0 <- Sys.time()

EST <- c("EE", "DL", "REML", "PM")
TESTS <- c("z", "knha")

# ---- data sets (yi, vi by metafor's escalc; ni = total sample size per study) -----------
b <- dat.bcg
bcg <- c(mp_escalc("RR", list(ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg)),
         list(ni = b$tpos + b$tneg + b$cpos + b$cneg, slab = paste(b$author, b$year)))
nd <- dat.normand1999
normand <- c(mp_escalc("SMD", list(m1i = nd$m1i, sd1i = nd$sd1i, n1i = nd$n1i, m2i = nd$m2i,
                                   sd2i = nd$sd2i, n2i = nd$n2i)),
             list(ni = nd$n1i + nd$n2i, slab = as.character(nd$source)))
sx_xi <- c(32, 16, 150, 25, 9, 14)
sx_ni <- c(122, 78, 195, 40, 18, 21)
sx_sub <- c("SEL+DEX", "SEL+DEX", "SEL+DEX+PI", "SEL+DEX+PI", "SEL+DEX+PI", "SEL+DEX+PI")
selinexor <- c(mp_escalc("PR", list(xi = sx_xi, ni = sx_ni)), list(ni = sx_ni))
SETS <- list(
  "dat.bcg" = c(bcg, list(measure = "RR")),
  "dat.normand1999" = c(normand, list(measure = "SMD")),
  "selinexor ORR" = c(selinexor, list(measure = "PR"))
)

# design matrices as R's model.matrix names them ("(Intercept)" -> metafor's "intrcpt")
mm <- function(formula, data) {
  X <- model.matrix(formula, data = data)
  attr(X, "assign") <- NULL
  attr(X, "contrasts") <- NULL
  colnames(X)[colnames(X) == "(Intercept)"] <- "intrcpt"
  X
}
MODS <- list(
  list(dataset = "dat.bcg", mods = "~ ablat", X = mm(~ ablat, b)),
  list(dataset = "dat.bcg", mods = "~ alloc", X = mm(~ alloc, b)),
  list(dataset = "dat.bcg", mods = "~ ablat + year", X = mm(~ ablat + year, b)),
  list(dataset = "dat.normand1999", mods = "~ size (size = log(n1i + n2i))",
       X = mm(~ size, data.frame(size = log(nd$n1i + nd$n2i)))),
  list(dataset = "selinexor ORR", mods = "~ subgroup",
       X = mm(~ subgroup, data.frame(subgroup = sx_sub)))
)

# ---- meta-regression ---------------------------------------------------------------------
mods_recs <- list()
for (md in MODS) {
  s <- SETS[[md$dataset]]
  cols <- lapply(seq_len(ncol(md$X)), function(j) as.numeric(md$X[, j]))
  for (m in c(EST, "ML")) for (tt in TESTS) {
    r <- mp_rma_mods(s$yi, s$vi, md$X, m, tt)
    # R2 compares with the intercept-only fit: its tau2 is recorded (same function) so that
    # a replay can tell "metafor's tau2_0 stopped ~1e-19 short of 0" from a real difference
    r0 <- if (m != "EE") mp_rma_mods(s$yi, s$vi, md$X[, 1, drop = FALSE], m, "z") else NULL
    mods_recs[[length(mods_recs) + 1]] <- c(
      list(dataset = md$dataset, measure = s$measure, mods = md$mods, method = m, test = tt,
           level = 95, yi = s$yi, vi = s$vi, X = cols, colnames = colnames(md$X),
           tau2_intercept_only = if (is.null(r0) || !isTRUE(r0$ok)) NA_real_ else r0$fit$tau2),
      r)
  }
}

# ---- case diagnostics and small-study methods ----------------------------------------------
inf_recs <- list(); bias_recs <- list()
for (id in names(SETS)) {
  s <- SETS[[id]]
  for (m in EST) for (tt in TESTS) {
    inp <- list(dataset = id, measure = s$measure, method = m, test = tt, level = 95,
                yi = s$yi, vi = s$vi)
    inf_recs[[length(inf_recs) + 1]] <- c(inp, mp_influence(s$yi, s$vi, m, tt))
    bias_recs[[length(bias_recs) + 1]] <- c(inp, list(ni = s$ni),
                                            mp_bias(s$yi, s$vi, m, tt, ni = s$ni))
  }
}

# ---- binomial-normal model (rma.glmm, lme4) --------------------------------------------------
p <- dat.pritz1997
GLMM <- list(
  list(dataset = "selinexor ORR", xi = sx_xi, ni = sx_ni, nAGQ = 7, test = "z", level = 95),
  list(dataset = "selinexor ORR", xi = sx_xi, ni = sx_ni, nAGQ = 7, test = "t", level = 95),
  list(dataset = "selinexor ORR", xi = sx_xi, ni = sx_ni, nAGQ = 1, test = "z", level = 95),
  list(dataset = "selinexor sCR (zeros)", xi = c(0, 0, 19, 0, 2, 0), ni = c(21, 40, 195, 18, 122, 78),
       nAGQ = 7, test = "z", level = 95),
  list(dataset = "selinexor sCR (zeros)", xi = c(0, 0, 19, 0, 2, 0), ni = c(21, 40, 195, 18, 122, 78),
       nAGQ = 7, test = "t", level = 95),
  list(dataset = "dat.pritz1997", xi = p$xi, ni = p$ni, nAGQ = 7, test = "z", level = 95),
  list(dataset = "dat.pritz1997", xi = p$xi, ni = p$ni, nAGQ = 7, test = "t", level = 90)
)
glmm_recs <- list()
for (g in GLMM) {
  # lme4's marginal log-likelihood is also evaluated at a fixed point away from the optimum
  # (logit of the pooled proportion, tau2 = 0.5): a replay compares metaparity's there
  at <- c(qlogis(sum(g$xi) / sum(g$ni)), 0.5)
  r <- mp_rma_glmm(g$xi, g$ni, nAGQ = g$nAGQ, level = g$level, test = g$test, at = at)
  glmm_recs[[length(glmm_recs) + 1]] <- c(g, list(at = at), r[setdiff(names(r), "nAGQ")])
}

# ---- write ----------------------------------------------------------------------------------
n_err <- function(recs) sum(!vapply(recs, function(r) isTRUE(r$ok), TRUE))
prov <- c(mp_versions(), list(
  lme4 = tryCatch(as.character(packageVersion("lme4")), error = function(e) NA_character_),
  generated_by = "r_scripts/goldens_diagnostics.R",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = list(
    rma_mods = "mp_rma_mods(yi, vi, X, method, test): rma(yi, vi, mods = X[, -1], method=, test=, level=, control=mp_control_for(vi)); tau2_intercept_only = mp_rma_mods(yi, vi, X[, 1], method, 'z')$fit$tau2",
    influence = "mp_influence(yi, vi, method, test): res <- rma(yi, vi, method=, test=, level=, control=mp_control_for(vi)); leave1out(res); influence(res); rstudent(res); rstandard(res); cumul(res); baujat(res)",
    bias = "mp_bias(yi, vi, method, test, ni = ni): res <- rma(..., control=mp_control_for(vi)); ranktest(res); regtest(res, model = rma|lm, predictor = sei|vi|ni|ninv|sqrtni|sqrtninv, ni = ni); trimfill(res, estimator = L0|R0, side = <metafor's>|left|right, control = <the fit's control>); fsn(yi, vi, type = Rosenthal|Orwin|Rosenberg, weighted=, alpha = .05|.01)",
    rma_glmm = "mp_rma_glmm(xi, ni, nAGQ, level, test, at = c(qlogis(sum(xi)/sum(ni)), 0.5)): rma.glmm(measure = 'PLO', xi, ni, nAGQ=, level=, test=, control = mp_glmm_control()); predict(res[, transf = transf.ilogit]); lme4 marginal log-likelihood (glmer(devFunOnly = TRUE)) at metafor's optimum and at `at`",
    escalc = "escalc('RR', ai=tpos, bi=tneg, ci=cpos, di=cneg) (dat.bcg); escalc('SMD', m1i, sd1i, n1i, m2i, sd2i, n2i) (dat.normand1999); escalc('PR', xi, ni) (selinexor)"),
  control = "mp_control_for(vi): threshold = 1e-14 * min(1, median(vi)) (x100, x1e4 only when metafor reports non-convergence at the tighter one), maxiter = 10000, tol = 1e-15 * min(1, median(vi)), tau2.max = 1e8 * max(1, max(vi)); the control used is stored with each record",
  glmm_control = "mp_glmm_control(): glmerCtrl = list(optimizer = 'bobyqa', optCtrl = list(rhoend = 1e-12, maxfun = 1e6), tolPwrss = 1e-13 (relaxed to 1e-10, then lme4's default, only when PIRLS fails)); glm for QE.Wld/QE.LRT with its defaults; the control used is stored with each record",
  counts = list(rma_mods = length(mods_recs), influence = length(inf_recs), bias = length(bias_recs),
                rma_glmm = length(glmm_recs)),
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, rma_mods = mods_recs, influence = inf_recs,
                           bias = bias_recs, rma_glmm = glmm_recs)), out_file)
cat(sprintf("wrote %s: %d rma_mods, %d influence, %d bias, %d rma_glmm records (%d metafor errors) in %.1fs\n",
            out_file, length(mods_recs), length(inf_recs), length(bias_recs), length(glmm_recs),
            n_err(mods_recs) + n_err(inf_recs) + n_err(bias_recs) + n_err(glmm_recs), prov$seconds))
