#!/usr/bin/env Rscript
# Golden results for rma.glmm's unconditional models (two groups: UM.FS, UM.RS; one group: IRLN), computed with
# metafor + lme4 through the very R function the live bridge calls (mp_rma_glmm_um in
# src/metaparity/parity/r/fam_glmm_um.R).
#
#   Rscript r_scripts/goldens_glmm_um.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/glmm_um.json)
#
# Each record holds the inputs (counts, mods, measure, model) next to metafor's outputs and
# lme4's parameters (theta, all fixed effects) and marginal log-likelihood at its optimum,
# so that tests/parity/test_goldens_glmm_um.py can replay it without R. Numbers at %.17g.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "glmm_um.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_glmm_um.R"))
suppressPackageStartupMessages(library(metadat))
t0 <- Sys.time()

b <- dat.bcg
or_counts <- function(d) list(ai = d$ai, bi = d$n1i - d$ai, ci = d$ci, di = d$n2i - d$ci)
irr_counts <- function(d) list(x1i = d$x1i, t1i = d$t1i, x2i = d$x2i, t2i = d$t2i)
yu <- subset(dat.yusuf1985, table == "6" & !is.na(ai))
SETS <- list(
  "dat.bcg" = list(measure = "OR", counts = list(ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg)),
  "dat.bcg ~ ablat" = list(measure = "OR", counts = list(ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg),
                           mods = list(ablat = b$ablat)),
  "dat.li2007" = list(measure = "OR", counts = or_counts(dat.li2007)),
  "dat.nielweise2007" = list(measure = "OR", counts = or_counts(dat.nielweise2007)),
  "dat.yusuf1985 table 6" = list(measure = "OR", counts = or_counts(yu)),
  "dat.hart1999" = list(measure = "IRR", counts = irr_counts(dat.hart1999)),
  "dat.nielweise2008" = list(measure = "IRR", counts = irr_counts(dat.nielweise2008)),
  "synthetic person-time (zeros, a double zero)" = list(measure = "IRR", counts = list(
    x1i = c(0, 3, 0, 5, 9, 14, 2), t1i = c(100, 200, 150, 120, 300, 410, 90),
    x2i = c(2, 1, 0, 4, 12, 22, 7), t2i = c(110, 190, 160, 100, 280, 395, 105))),
  # IRLN: one group's log incidence rate (rma.glmm's model= does not apply)
  "dat.hart1999 group 1 (IRLN)" = list(measure = "IRLN", counts = list(xi = dat.hart1999$x1i, ti = dat.hart1999$t1i)),
  "dat.nielweise2008 group 2 (IRLN)" = list(measure = "IRLN", counts = list(xi = dat.nielweise2008$x2i, ti = dat.nielweise2008$t2i)),
  "dat.nielweise2008 group 2 (IRLN) ~ year" = list(measure = "IRLN", counts = list(xi = dat.nielweise2008$x2i, ti = dat.nielweise2008$t2i),
                                                   mods = list(year = dat.nielweise2008$year))
)
RUNS <- c(lapply(names(SETS), function(n) list(dataset = n, model = "UM.FS")),
          lapply(c("dat.bcg", "dat.li2007", "dat.yusuf1985 table 6", "dat.hart1999",
                   "dat.nielweise2008", "synthetic person-time (zeros, a double zero)"),
                 function(n) list(dataset = n, model = "UM.RS")))
recs <- list()
for (run in RUNS) {
  s <- SETS[[run$dataset]]
  r <- do.call(mp_rma_glmm_um, c(list(measure = s$measure, model = run$model, mods = s$mods),
                                 s$counts))
  recs[[length(recs) + 1]] <- c(run, list(measure = s$measure, counts = s$counts, mods = s$mods), r)
}
n_err <- sum(!vapply(recs, function(r) isTRUE(r$ok), TRUE))
prov <- c(mp_versions(), list(
  lme4 = as.character(packageVersion("lme4")),
  metafor_commit = if (packageVersion("metafor") >= "5.0") "71ae8f5 (GitHub build, if this is the 5.1-12 library)" else NA_character_,
  generated_by = "r_scripts/goldens_glmm_um.R",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = "mp_rma_glmm_um(measure, model, <counts>, mods): rma.glmm(measure = 'OR' (ai, bi, ci, di) | 'IRR' (x1i, t1i, x2i, t2i) | 'IRLN' (xi, ti), model = 'UM.FS' | 'UM.RS' (not for IRLN), mods = , control = mp_glmm_control()); the ML glmer refitted with metafor's formula and control for lme4's theta and all fixed effects; lme4's marginal log-likelihood there (glmer(devFunOnly = TRUE))",
  control = "mp_glmm_control(): glmerCtrl = list(optimizer = 'bobyqa', optCtrl = list(rhoend = 1e-12, maxfun = 1e6), tolPwrss = 1e-13, relaxed to 1e-12, 1e-11, 1e-10, then lme4's default only when PIRLS fails); glm with its defaults; the control used is stored with each record",
  counts = length(recs),
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, glmm_um = recs)), out_file)
cat(sprintf("wrote %s: %d records (%d metafor errors) in %.1fs\n", out_file, length(recs), n_err, prov$seconds))
