#!/usr/bin/env Rscript
# Golden results for vcalc() (V of dependent estimates), computed with metafor.
#
#   Rscript r_scripts/goldens_vcalc.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/vcalc.json)
#
# Inputs: fixtures/vcalc_cases.json (scripts/vcalc_golden_inputs.py writes it from
# tests/vcalc_cases.py: dat.assink2016 obs/type/rho matrices, dat.ishak2007 AR, dat.berkey1998
# rvars, multi-arm and within-subjects contrasts with weights and subgroups, nearpd).
# The very R function the live bridge calls (src/metaparity/parity/r/fam_vcalc.R):
#   mp_vcalc(cols, use, rho, phi, rvars, checkpd, nearpd)
# Numbers at %.17g.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "vcalc.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_vcalc.R"))
suppressPackageStartupMessages(library(jsonlite))
t0 <- Sys.time()
inp <- fromJSON(file.path(root, "fixtures", "vcalc_cases.json"), simplifyVector = TRUE,
                simplifyDataFrame = FALSE, simplifyMatrix = FALSE)
recs <- list()
for (case in inp$cases) {
  out <- do.call(mp_vcalc, case$args)
  recs[[length(recs) + 1]] <- c(list(name = case$name), out)
  cat(sprintf("%-45s %s\n", case$name, if (isTRUE(out$ok)) "ok" else out$error))
}
prov <- c(mp_versions(), list(
  metafor_commit = if (packageVersion("metafor") >= "5.0") "71ae8f5 (GitHub build)" else NA_character_,
  generated_by = "r_scripts/goldens_vcalc.R",
  inputs = "fixtures/vcalc_cases.json",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = "mp_vcalc(...): vcalc(vi, cluster, ..., data = <the case's columns>, rho, phi, rvars, checkpd, nearpd)",
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, vcalc = recs)), out_file)
cat(sprintf("wrote %s: %d records in %.1fs\n", out_file, length(recs), prov$seconds))
