#!/usr/bin/env Rscript
# Golden results for metaparity's rma_mh (metafor::rma.mh), computed with metafor.
#
#   Rscript r_scripts/goldens_mh.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/mh.json)
#
# The very R function the live tests call (src/metaparity/parity/r/fam_mh.R):
#   mp_rma_mh(measure, args, add, to, drop00, correct, level): rma.mh(...), predict(res[, transf = exp]),
#   leave1out(res[, transf = TRUE]), cumul(res[, transf = TRUE]), print(res), warnings
# on metadat 2x2 tables (dat.bcg, dat.li2007, dat.nielweise2007, dat.yusuf1985 table 9) and
# person-time data (dat.hart1999, dat.nielweise2008), plus synthetic sets with a double-zero
# study and one with all events, for every measure (OR, RR, RD / IRR, IRD) under 7 option sets.
# Numbers at %.17g; the provenance block records R, metafor, metadat and the calls.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "mh.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_mh.R"))
suppressPackageStartupMessages(library(metadat))
t0 <- Sys.time()

tab <- function(d) list(ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i)
pt <- function(d) list(x1i = d$x1i, t1i = d$t1i, x2i = d$x2i, t2i = d$t2i)
TABLES <- list(
  bcg = list(ai = dat.bcg$tpos, bi = dat.bcg$tneg, ci = dat.bcg$cpos, di = dat.bcg$cneg),
  li2007 = tab(dat.li2007),
  nielweise2007 = tab(dat.nielweise2007),
  yusuf1985_9 = tab(dat.yusuf1985[dat.yusuf1985$table == "9", ]),
  synthetic = list(ai = c(0, 3, 0, 5, 10, 7), bi = c(10, 7, 10, 5, 0, 13),
                   ci = c(2, 1, 0, 4, 10, 3), di = c(8, 9, 10, 6, 0, 17)))
PERSON_TIME <- list(
  hart1999 = pt(dat.hart1999),
  nielweise2008 = pt(dat.nielweise2008),
  synthetic = list(x1i = c(0, 3, 0, 5, 9), t1i = c(100, 200, 150, 120, 300),
                   x2i = c(2, 1, 0, 4, 12), t2i = c(110, 190, 160, 100, 280)))
OPTIONS <- list(list(), list(correct = FALSE), list(drop00 = FALSE),
                list(add = 0.25, to = "all"), list(to = "if0all"),
                list(to = "none", drop00 = FALSE), list(level = 90),
                # two values: the second applies to the MH computation (RevMan 5 / Stata)
                list(add = c(0.5, 0.5), to = c("only0", "only0"), drop00 = c(TRUE, TRUE)),
                list(drop00 = c(FALSE, TRUE)))

recs <- list()
run <- function(measure, sets) {
  for (nm in names(sets)) for (o in OPTIONS) {
    r <- do.call(mp_rma_mh, c(list(measure = measure, args = sets[[nm]]), o))
    recs[[length(recs) + 1]] <<- c(list(dataset = nm, measure = measure, args = sets[[nm]],
                                        options = if (length(o)) o else structure(list(), names = character(0))),
                                   r)
  }
}
for (m in c("OR", "RR", "RD")) run(m, TABLES)
for (m in c("IRR", "IRD")) run(m, PERSON_TIME)

vers <- mp_versions()
prov <- c(vers, list(
  metafor_commit = if (startsWith(vers$metafor, "5.")) "71ae8f5" else NA_character_,
  generated_by = "r_scripts/goldens_mh.R",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = "mp_rma_mh(measure, args, add = 0.5, to = 'only0', drop00 = TRUE, correct = TRUE, level = 95; one of the option sets overriding): res <- rma.mh(<args>, measure=, add=, to=, drop00=, correct=, level=); predict(res); predict(res, transf = exp) (OR, RR, IRR); leave1out(res); leave1out(res, transf = TRUE); cumul(res); cumul(res, transf = TRUE); capture.output(print(res))",
  control = "none (closed form)",
  counts = list(mh = length(recs), errors = sum(!vapply(recs, function(r) isTRUE(r$ok), TRUE))),
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, mh = recs)), out_file)
cat(sprintf("wrote %s: %d rma.mh records (%d metafor errors) in %.1fs\n", out_file,
            length(recs), prov$counts$errors, prov$seconds))
