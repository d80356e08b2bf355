#!/usr/bin/env Rscript
# Golden results for rma.glmm's conditional binomial-normal models, computed with metafor:
# measure = "OR", model = "CM.AL" and measure = "IRR", model = "CM.EL" (both glmer, nAGQ = 7).
#
#   Rscript r_scripts/goldens_glmm_cm_al.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/glmm_cm_al.json)
#
# The very R function the live bridge calls (src/metaparity/parity/r/fam_glmm_cm.R):
#   mp_rma_glmm_cm_al(measure, ai, bi, ci, di | x1i, t1i, x2i, t2i, mods)
# on dat.yusuf1985 table 12b (NAs, a double zero), dat.li2007 (with/without year),
# dat.bcg (with/without ablat), dat.nielweise2007 (zero cells, a double zero; with/without
# year), dat.hart1999 and dat.nielweise2008 (with/without year). Numbers at %.17g.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "glmm_cm_al.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_glmm_cm.R"))
suppressPackageStartupMessages(library(metadat))
t0 <- Sys.time()
b <- dat.bcg; n <- dat.nielweise2007; h <- dat.hart1999; n8 <- dat.nielweise2008
y <- dat.yusuf1985[dat.yusuf1985$table == "12b", ]  # NAs, a double zero
l <- dat.li2007  # zero cells, ISIS-4 (58 050 patients)
or_sets <- list(
  list(data = "dat.yusuf1985[table == 12b]", ai = y$ai, bi = y$n1i - y$ai, ci = y$ci,
       di = y$n2i - y$ci, mods = NULL),
  list(data = "dat.li2007", ai = l$ai, bi = l$n1i - l$ai, ci = l$ci, di = l$n2i - l$ci,
       mods = NULL),
  list(data = "dat.li2007", ai = l$ai, bi = l$n1i - l$ai, ci = l$ci, di = l$n2i - l$ci,
       mods = list(year = as.numeric(l$year))),
  list(data = "dat.bcg", ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg, mods = NULL),
  list(data = "dat.bcg", ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg,
       mods = list(ablat = as.numeric(b$ablat))),
  list(data = "dat.nielweise2007", ai = n$ai, bi = n$n1i - n$ai, ci = n$ci, di = n$n2i - n$ci,
       mods = NULL),
  list(data = "dat.nielweise2007", ai = n$ai, bi = n$n1i - n$ai, ci = n$ci, di = n$n2i - n$ci,
       mods = list(year = as.numeric(n$year))))
irr_sets <- list(
  list(data = "synthetic person-time (zeros, a double zero)", x1i = c(0, 3, 0, 5, 9, 14, 2),
       t1i = c(100, 200, 150, 120, 300, 410, 90), x2i = c(2, 1, 0, 4, 12, 22, 7),
       t2i = c(110, 190, 160, 100, 280, 395, 105), mods = NULL),
  list(data = "dat.hart1999", x1i = h$x1i, t1i = h$t1i, x2i = h$x2i, t2i = h$t2i, mods = NULL),
  list(data = "dat.nielweise2008", x1i = n8$x1i, t1i = n8$t1i, x2i = n8$x2i, t2i = n8$t2i,
       mods = NULL),
  list(data = "dat.nielweise2008", x1i = n8$x1i, t1i = n8$t1i, x2i = n8$x2i, t2i = n8$t2i,
       mods = list(year = as.numeric(n8$year))))
recs <- list()
for (s in or_sets) recs[[length(recs) + 1]] <- c(list(measure = "OR", model = "CM.AL"), s,
  mp_rma_glmm_cm_al("OR", ai = s$ai, bi = s$bi, ci = s$ci, di = s$di, mods = s$mods))
for (s in irr_sets) recs[[length(recs) + 1]] <- c(list(measure = "IRR", model = "CM.EL"), s,
  mp_rma_glmm_cm_al("IRR", x1i = s$x1i, t1i = s$t1i, x2i = s$x2i, t2i = s$t2i, mods = s$mods))
prov <- c(mp_versions(), list(
  lme4 = tryCatch(as.character(packageVersion("lme4")), error = function(e) NA_character_),
  metafor_commit = if (packageVersion("metafor") >= "5.0") "71ae8f5 (GitHub build)" else NA_character_,
  generated_by = "r_scripts/goldens_glmm_cm_al.R",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = "mp_rma_glmm_cm_al(measure, ...): rma.glmm(measure = 'OR', model = 'CM.AL' | measure = 'IRR', model = 'CM.EL', ...[, mods = cbind(...)], control = mp_glmm_control())",
  control = "mp_glmm_control(): glmerCtrl = list(optimizer = 'bobyqa', optCtrl = list(rhoend = 1e-12, maxfun = 1e6), tolPwrss = 1e-13 (relaxed to 1e-10, then lme4's default, only when PIRLS fails))",
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, glmm_cm_al = recs)), out_file)
cat(sprintf("wrote %s: %d records in %.1fs\n", out_file, length(recs), prov$seconds))
