#!/usr/bin/env Rscript
# Golden results for blup() and ranef() of rma.uni fits, computed with metafor.
#
#   Rscript r_scripts/goldens_blup.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/blup.json)
#
# Inputs: fixtures/blup_cases.json (scripts/blup_golden_inputs.py writes it from
# tests/blup_cases.py: dat.bcg, dat.normand1999, dat.pritz1997 over estimators, tests,
# moderators, levels, transforms and a fixed tau2).
# The very R function the live bridge calls (src/metaparity/parity/r/fam_blup.R):
#   mp_blup_uni(yi, vi, X, X_names, method, test, level, tau2, transf, blevel)
# Numbers at %.17g.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "blup.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_blup.R"))
suppressPackageStartupMessages(library(jsonlite))
t0 <- Sys.time()
inp <- fromJSON(file.path(root, "fixtures", "blup_cases.json"), simplifyVector = TRUE,
                simplifyDataFrame = FALSE, simplifyMatrix = FALSE)
recs <- list()
for (case in inp$cases) {
  out <- do.call(mp_blup_uni, case$args)
  recs[[length(recs) + 1]] <- c(list(name = case$name), out)
  cat(sprintf("%-40s %s\n", case$name, if (isTRUE(out$ok)) "ok" else out$error))
}
prov <- c(mp_versions(), list(
  metafor_commit = if (packageVersion("metafor") >= "5.0") "71ae8f5 (GitHub build)" else NA_character_,
  generated_by = "r_scripts/goldens_blup.R",
  inputs = "fixtures/blup_cases.json",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = "mp_blup_uni(...): rma(yi, vi, mods, method, test, level, control = tight) then blup() and ranef()",
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, blup = recs)), out_file)
cat(sprintf("wrote %s: %d records in %.1fs\n", out_file, length(recs), prov$seconds))
