#!/usr/bin/env Rscript
# Golden results for rma.mv (multilevel / multivariate models), computed with metafor.
#
#   Rscript r_scripts/goldens_mv.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/mv.json)
#
# Inputs: fixtures/mv_cases.json (scripts/mv_golden_inputs.py writes it from tests/mv_cases.py:
# dat.konstantopoulos2011, dat.assink2016, dat.berkey1998, dat.ishak2007, dat.hasselblad1998
# (contrast-based network), a phylogenetic-style known R, two '~ inner | outer' terms).
# The very R function the live bridge calls (src/metaparity/parity/r/fam_mv.R):
#   mp_rma_mv(yi, V, data, random, struct, X, R, method, test, dfs, sigma2/tau2/rho, control, at)
# with the control list recorded in each case (Nelder-Mead, bobyqa and nlminb, the highest
# log-likelihood kept) and metafor's log-likelihood at metaparity's recorded estimates (`at`).
# Numbers at %.17g.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "mv.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_mv.R"))
suppressPackageStartupMessages(library(jsonlite))
t0 <- Sys.time()
inp <- fromJSON(file.path(root, "fixtures", "mv_cases.json"), simplifyVector = TRUE,
                simplifyDataFrame = FALSE, simplifyMatrix = FALSE)
recs <- list()
for (case in inp$cases) {
  a <- case$args
  out <- do.call(mp_rma_mv, a)
  recs[[length(recs) + 1]] <- c(list(name = case$name), out)
  cat(sprintf("%-45s %s\n", case$name, if (isTRUE(out$ok)) "ok" else out$error))
}
prov <- c(mp_versions(), list(
  metafor_commit = if (packageVersion("metafor") >= "5.0") "71ae8f5 (GitHub build)" else NA_character_,
  generated_by = "r_scripts/goldens_mv.R",
  inputs = "fixtures/mv_cases.json",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = "mp_rma_mv(...): rma.mv(yi, V, mods = X[, -1] | X, random = ..., struct = ..., R = ..., data = ..., method = ..., test = ..., dfs = ..., control = each of the case's controls; the highest logLik kept)",
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, mv = recs)), out_file)
cat(sprintf("wrote %s: %d records in %.1fs\n", out_file, length(recs), prov$seconds))
