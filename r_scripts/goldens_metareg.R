#!/usr/bin/env Rscript
# Golden results for meta-regression inference of rma.uni fits, computed with metafor:
# predict(), anova() Wald tests (btt, X), fit statistics (fit.stats, logLik, deviance, AIC,
# BIC, AICc), likelihood-ratio tests anova(full, reduced, refit) and confint(fixed = TRUE).
#
#   Rscript r_scripts/goldens_metareg.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/metareg.json)
#
# Inputs: fixtures/metareg_cases.json (scripts/metareg_golden_inputs.py writes it from
# tests/metareg_cases.py: dat.bcg, dat.normand1999, dat.assink2016, dat.hart1999 with
# continuous and categorical moderators and an interaction, over estimators and tests).
# Each record names the very R function the live bridge calls
# (src/metaparity/parity/r/fam_metareg.R): mp_predict_uni, mp_anova_uni, mp_fitstats_uni,
# mp_lrt_uni, mp_confint_uni, mp_permutest_uni, mp_regplot_uni, mp_profile_uni, mp_vif_uni,
# mp_influence_uni (influence, rstudent, rstandard, hatvalues, cooks.distance, dfbetas,
# baujat, leave1out), mp_hc_uni (hc). Numbers at %.17g.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "metareg.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_metareg.R"))
suppressPackageStartupMessages(library(jsonlite))
t0 <- Sys.time()
inp <- fromJSON(file.path(root, "fixtures", "metareg_cases.json"), simplifyVector = TRUE,
                simplifyDataFrame = FALSE, simplifyMatrix = FALSE)
recs <- list()
for (case in inp$cases) {
  out <- do.call(get(case$fn), case$args)
  recs[[length(recs) + 1]] <- c(list(name = case$name, kind = case$kind), out)
  cat(sprintf("%-60s %s\n", case$name, if (isTRUE(out$ok)) "ok" else out$error))
}
prov <- c(mp_versions(), list(
  metafor_commit = if (packageVersion("metafor") >= "5.0") "71ae8f5 (GitHub build)" else NA_character_,
  generated_by = "r_scripts/goldens_metareg.R",
  inputs = "fixtures/metareg_cases.json",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = "rma(yi, vi, mods, method, test, level, weights, weighted, tau2, control = tight) then predict / anova / fit.stats / anova(full, reduced) / confint(fixed = TRUE)",
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, metareg = recs)), out_file)
cat(sprintf("wrote %s: %d records in %.1fs\n", out_file, length(recs), prov$seconds))
