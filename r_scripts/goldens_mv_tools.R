#!/usr/bin/env Rscript
# Golden results for the tools around rma.mv (predict, confint, ranef, profile, anova,
# robust with and without clubSandwich, for rma.mv and rma fits), computed with metafor.
#
#   Rscript r_scripts/goldens_mv_tools.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/mv_tools.json)
#
# Inputs: fixtures/mv_tools_cases.json (scripts/mv_tools_golden_inputs.py writes it: the
# bridge calls of each comparison of tests/mv_tools_cases.py, as the bridge sends them).
# Each call is run as the Rscript backend runs it (src/metaparity/parity/r/driver.R): the R
# function named (mp_rma_mv, mp_anova_mv, mp_robust_uni of the fam_*.R files) with its
# arguments decoded by mp_arg. Numbers at %.17g.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "mv_tools.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_mv.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_robust.R"))
t0 <- Sys.time()
inp <- jsonlite::read_json(file.path(root, "fixtures", "mv_tools_cases.json"),
                           simplifyVector = TRUE, simplifyDataFrame = FALSE)
recs <- list()
for (case in inp$cases) {
  results <- lapply(case$calls, function(cl) {
    tryCatch(do.call(get(cl$rfun), lapply(cl$args, mp_arg)),
             error = function(e) list(ok = FALSE, error = conditionMessage(e)))
  })
  ok <- all(vapply(results, function(r) isTRUE(r$ok), TRUE))
  recs[[length(recs) + 1]] <- list(name = case$name, results = results)
  cat(sprintf("%-75s %s\n", case$name, if (ok) "ok" else "FAILED"))
}
prov <- c(mp_versions(), list(
  metafor_commit = if (packageVersion("metafor") >= "5.0") "71ae8f5 (GitHub build)" else NA_character_,
  clubSandwich = as.character(packageVersion("clubSandwich")),
  generated_by = "r_scripts/goldens_mv_tools.R",
  inputs = "fixtures/mv_tools_cases.json",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = "each recorded bridge call: do.call(<mp_ function>, lapply(args, mp_arg)), as driver.R",
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, cases = recs)), out_file)
cat(sprintf("wrote %s: %d records in %.1fs\n", out_file, length(recs), prov$seconds))
