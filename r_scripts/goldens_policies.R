#!/usr/bin/env Rscript
# Golden results for metaparity's tool policies (metaparity.analysis.policies / explain).
#
#   Rscript r_scripts/goldens_policies.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/policies.json)
#
# The very R functions the live tests call (src/metaparity/parity/r/fam_policies.R):
#   mp_policy_fit    rma(yi, vi, method=, test=) + confint() (Q-profile) + the PI by rule
#   mp_policy_mh_dl  RevMan 5 random effects: DL tau^2 from rma.mh's (rma.peto's) Q, then
#                    rma(yi, vi, tau2 = that); rma.mh / rma.peto themselves for the common effect
# on 2x2 tables of metadat data sets (zero and double-zero cells included). Each record holds
# the counts, the measure and the policy's choices next to metafor's outputs, so that
# tests/parity/test_goldens_policies.py replays it without R. Numbers at %.17g.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "policies.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_policies.R"))
suppressPackageStartupMessages(library(metadat))
t0 <- Sys.time()

tab <- function(ai, n1i, ci, n2i) list(ai = ai, bi = n1i - ai, ci = ci, di = n2i - ci)
b <- dat.bcg
li <- dat.li2007
nw <- dat.nielweise2007
SETS <- list(
  list(dataset = "dat.bcg", measure = "OR", counts = list(ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg)),
  list(dataset = "dat.bcg", measure = "RR", counts = list(ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg)),
  list(dataset = "dat.li2007", measure = "OR", counts = tab(li$ai, li$n1i, li$ci, li$n2i)),
  list(dataset = "dat.nielweise2007", measure = "OR", counts = tab(nw$ai, nw$n1i, nw$ci, nw$n2i)),
  list(dataset = "dat.nielweise2007", measure = "RD", counts = tab(nw$ai, nw$n1i, nw$ci, nw$n2i))
)
# the inverse-variance analyses of each policy (MH policies: their IV version); the choices
# are checked against metaparity's policies by the replay test
IV <- list(
  list(policy = "metafor", tau2_method = "REML", test = "z", pi = "metafor", tau2_ci = "none", add = 0.5, to = "only0", drop00 = FALSE),
  list(policy = "revman_web", tau2_method = "REML", test = "knha", pi = "t_k2", tau2_ci = "QP", add = 0.5, to = "only0", drop00 = TRUE),
  list(policy = "stata", tau2_method = "REML", test = "z", pi = "none", tau2_ci = "none", add = 0.5, to = "only0", drop00 = FALSE),
  list(policy = "revman5", tau2_method = "DL", test = "z", pi = "none", tau2_ci = "none", add = 0.5, to = "only0", drop00 = TRUE),
  list(policy = "meta", tau2_method = "REML", test = "z", pi = "t_k2", tau2_ci = "QP", add = 0.5, to = "only0", drop00 = TRUE)
)
iv_recs <- list()
pooled_recs <- list()
for (s in SETS) {
  for (p in IV) {
    e <- do.call(escalc, c(list(measure = s$measure), s$counts, list(add = p$add, to = p$to, drop00 = p$drop00)))
    ok <- is.finite(e$yi) & is.finite(e$vi)
    r <- mp_policy_fit(as.numeric(e$yi[ok]), as.numeric(e$vi[ok]), method = p$tau2_method,
                       test = p$test, pi = p$pi, tau2_ci = p$tau2_ci)
    iv_recs[[length(iv_recs) + 1]] <- c(list(dataset = s$dataset, measure = s$measure,
                                             counts = s$counts, choices = p), r)
  }
  for (pooling in c("MH", "Peto")) {
    if (pooling == "Peto" && s$measure != "OR") next
    # revman5: 0.5 added to the cells of zero-cell studies in the MH computation too
    r <- do.call(mp_policy_mh_dl, c(s$counts, list(measure = s$measure, add = 0.5, to = "only0",
                                                   drop00 = TRUE, test = "z", pooling = pooling,
                                                   mh_cc = TRUE)))
    pooled_recs[[length(pooled_recs) + 1]] <- c(list(dataset = s$dataset, measure = s$measure,
                                                     counts = s$counts, policy = "revman5",
                                                     pooling = pooling, mh_cc = TRUE), r)
  }
}

n_err <- function(recs) sum(!vapply(recs, function(r) isTRUE(r$ok), TRUE))
prov <- c(mp_versions(), list(
  generated_by = "r_scripts/goldens_policies.R",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = list(
    iv = "e <- escalc(measure, ai, bi, ci, di, add=, to=, drop00=); mp_policy_fit(yi, vi, method, test, pi, tau2_ci): rma(yi, vi, method=, test=, control=mp_control_for(vi)); confint(res, control=mp_confint_control_for(vi)) for tau2_ci='QP'; PI b +/- qt(.975, k-2 | k-1) * sqrt(se^2 + tau2), qnorm for 'z', predict(res) for 'metafor'",
    pooled = "mp_policy_mh_dl(ai, bi, ci, di, measure, add=0.5, to='only0', drop00=TRUE, test='z', pooling, mh_cc=TRUE): rma.mh(add=c(add, add), to=c(to, to), drop00=c(drop00, drop00)) (rma.peto for 'Peto' with add=c(add, 0), to=c(to, 'none'), drop00=c(drop00, FALSE), and escalc('PETO')); tau2 = max(0, (QE - (k-1)) / (sum(w) - sum(w^2)/sum(w))); rma(yi, vi, tau2 = tau2, test=)"),
  control = "mp_control_for(vi): threshold = 1e-14 * min(1, median(vi)), maxiter = 10000, tol = 1e-15 * min(1, median(vi)); confint: mp_confint_control_for(vi)",
  counts = list(iv = length(iv_recs), pooled = length(pooled_recs)),
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, iv = iv_recs, pooled = pooled_recs)), out_file)
cat(sprintf("wrote %s: %d iv, %d pooled records (%d metafor errors) in %.1fs\n", out_file,
            length(iv_recs), length(pooled_recs), n_err(iv_recs) + n_err(pooled_recs), prov$seconds))
