#!/usr/bin/env Rscript
# Golden results for rma.glmm(measure = "OR", model = "CM.EL"), computed with metafor.
#
#   Rscript r_scripts/goldens_glmm_cm.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/glmm_cm.json)
#
# The very R function the live bridge calls (src/metaparity/parity/r/fam_glmm_cm.R):
#   mp_rma_glmm_cm(ai, bi, ci, di, mods)  rma.glmm(measure = "OR", model = "CM.EL", control = mp_glmm_cm_control())
# on dat.yusuf1985 table 12b (missing tables, a double zero), dat.bcg (no zero cells;
# with and without ablat) and dat.nielweise2007 (zero cells and a
# double-zero table; with and without year). Each record holds the inputs next to metafor's
# outputs, metafor's own likelihood (.dnchg, integrate rel.tol 1e-12, BiasedUrn precision
# 1e-15) at its optimum, and the saturated model's Wald statistic computed directly
# (mp_glmm_cm_wald). Numbers at %.17g. Slow: metafor needs ~5 min for the four fits.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "glmm_cm.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_glmm_cm.R"))
suppressPackageStartupMessages(library(metadat))
t0 <- Sys.time()
b <- dat.bcg
n <- dat.nielweise2007
y <- dat.yusuf1985[dat.yusuf1985$table == "12b", ]  # NAs, a double zero
l <- dat.li2007  # single zero cells
SETS <- list(
  list(data = "dat.li2007", ai = l$ai, bi = l$n1i - l$ai, ci = l$ci, di = l$n2i - l$ci,
       mods = NULL),
  list(data = "dat.yusuf1985[table == 12b]", ai = y$ai, bi = y$n1i - y$ai, ci = y$ci,
       di = y$n2i - y$ci, mods = NULL),
  list(data = "dat.bcg", ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg, mods = NULL),
  list(data = "dat.bcg", ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg,
       mods = list(ablat = as.numeric(b$ablat))),
  list(data = "dat.nielweise2007", ai = n$ai, bi = n$n1i - n$ai, ci = n$ci, di = n$n2i - n$ci,
       mods = NULL),
  list(data = "dat.nielweise2007", ai = n$ai, bi = n$n1i - n$ai, ci = n$ci, di = n$n2i - n$ci,
       mods = list(year = as.numeric(n$year))))
recs <- list()
for (s in SETS) {
  r <- mp_rma_glmm_cm(s$ai, s$bi, s$ci, s$di, mods = s$mods)
  recs[[length(recs) + 1]] <- c(s, r)
  cat(sprintf("%s mods=%s: ok=%s %.1fs\n", s$data, paste(names(s$mods), collapse = ","),
              isTRUE(r$ok), if (is.null(r$seconds)) NA else r$seconds))
}
prov <- c(mp_versions(), list(
  BiasedUrn = tryCatch(as.character(packageVersion("BiasedUrn")), error = function(e) NA_character_),
  lme4 = tryCatch(as.character(packageVersion("lme4")), error = function(e) NA_character_),
  metafor_commit = if (packageVersion("metafor") >= "5.0") "71ae8f5 (GitHub build; see docs)" else NA_character_,
  generated_by = "r_scripts/goldens_glmm_cm.R",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = "mp_rma_glmm_cm(ai, bi, ci, di, mods): rma.glmm(measure = 'OR', model = 'CM.EL', ai, bi, ci, di[, mods = cbind(...)], control = mp_glmm_cm_control())",
  control = "mp_glmm_cm_control(): list(dnchgprec = 1e-15, hessianCtrl = list(r = 4), intCtrl = list(rel.tol = 1e-10), optCtrl = list(eval.max = 1e4, iter.max = 1e4)) (nlminb, metafor's default optimizer, at its default rel.tol 1e-10: tighter fails on the EE fit)",
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, glmm_cm = recs)), out_file)
cat(sprintf("wrote %s: %d records in %.1fs\n", out_file, length(recs), prov$seconds))
