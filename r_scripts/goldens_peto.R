#!/usr/bin/env Rscript
# Golden results for Peto's method (rma.peto) and escalc(measure = "PETO"), computed with metafor.
#
#   Rscript r_scripts/goldens_peto.R [OUT_JSON]   (default: fixtures/goldens/metafor-<installed version>/peto.json)
#
# The very R function the live bridge calls (src/metaparity/parity/r/fam_peto.R):
#   mp_rma_peto(ai, bi, ci, di, add, to, drop00, level)
#     rma.peto(...); predict(res); predict(res, transf = exp); leave1out(res[, transf = exp]);
#     cumul(res); print(res); the warnings
# and mp_escalc("PETO", ...) (metaparity.R), on dat.yusuf1985 (by table), dat.bcg, dat.li2007,
# dat.nielweise2007 and a synthetic set with double-zero tables and a missing cell, under
# metafor's defaults and the options below.  Everything is closed form (no control=).
# Each record holds the tables next to metafor's outputs, so tests/parity/test_goldens_peto.py
# can replay it without R.  Numbers at %.17g; provenance: R, metafor, metadat versions, calls.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "peto.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
source(file.path(root, "src", "metaparity", "parity", "r", "fam_peto.R"))
suppressPackageStartupMessages(library(metadat))
t0 <- Sys.time()

tab <- function(ai, n1i, ci, n2i, slab) list(ai = ai, bi = n1i - ai, ci = ci, di = n2i - ci, slab = as.character(slab))
SETS <- list()
yu <- dat.yusuf1985
for (t in sort(unique(yu$table))) {
  d <- yu[yu$table == t, ]
  SETS[[paste("yusuf1985 table", t)]] <- tab(d$ai, d$n1i, d$ci, d$n2i, d$trial)
}
b <- dat.bcg
SETS[["bcg"]] <- list(ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg, slab = paste(b$author, b$year))
li <- dat.li2007
SETS[["li2007"]] <- tab(li$ai, li$n1i, li$ci, li$n2i, paste(li$study, li$year))
nw <- dat.nielweise2007
SETS[["nielweise2007"]] <- tab(nw$ai, nw$n1i, nw$ci, nw$n2i, paste(nw$author, nw$year))
SETS[["synthetic double-zero"]] <- list(ai = c(0, 3, 0, 5, 2, 0, 7, 4), bi = c(10, 7, 10, 5, 8, 12, 0, NA),
                                       ci = c(0, 2, 4, 6, 1, 3, 9, 2), di = c(10, 8, 6, 4, 9, 9, 0, 8),
                                       slab = paste0("s", 1:8))
OPTIONS <- list(
  "defaults" = list(),
  "level=90" = list(level = 90),
  "drop00=False" = list(drop00 = FALSE),
  "drop00=(True,True)" = list(drop00 = c(TRUE, TRUE)),
  "add=0.25,to=all" = list(add = 0.25, to = "all"),
  "to=if0all" = list(to = "if0all"),
  "to=none,drop00=False" = list(to = "none", drop00 = FALSE),
  "tables corrected" = list(add = c(0.5, 0.5), to = c("only0", "only0"), drop00 = c(TRUE, FALSE))
)
full <- function(o) list(add = if (is.null(o$add)) 0.5 else o$add, to = if (is.null(o$to)) "only0" else o$to,
                         drop00 = if (is.null(o$drop00)) TRUE else o$drop00,
                         level = if (is.null(o$level)) 95 else o$level)

peto_recs <- list(); esc_recs <- list()
for (id in names(SETS)) {
  s <- SETS[[id]]
  for (on in names(OPTIONS)) {
    o <- full(OPTIONS[[on]])
    r <- mp_rma_peto(s$ai, s$bi, s$ci, s$di, add = o$add, to = o$to, drop00 = o$drop00, level = o$level)
    peto_recs[[length(peto_recs) + 1]] <- list(dataset = id, options_name = on, options = OPTIONS[[on]],
                                               ai = s$ai, bi = s$bi, ci = s$ci, di = s$di, slab = s$slab,
                                               result = r)
  }
  for (eo in list(list(), list(drop00 = TRUE), list(add = 0.25, to = "all"), list(to = "none"))) {
    e <- tryCatch(withCallingHandlers(
      mp_escalc("PETO", list(ai = s$ai, bi = s$bi, ci = s$ci, di = s$di), add = eo$add,
                to = if (is.null(eo$to)) "only0" else eo$to, drop00 = isTRUE(eo$drop00)),
      warning = function(w) invokeRestart("muffleWarning")),
      error = function(e) list(ok = FALSE, error = conditionMessage(e)))
    esc_recs[[length(esc_recs) + 1]] <- c(list(dataset = id, options = eo, ai = s$ai, bi = s$bi,
                                             ci = s$ci, di = s$di), e)
  }
}

n_err <- sum(!vapply(peto_recs, function(r) isTRUE(r$result$ok), TRUE))
prov <- c(mp_versions(), list(
  metafor_commit = if (grepl("^5\\.", as.character(packageVersion("metafor")))) "71ae8f5" else NA_character_,
  generated_by = "r_scripts/goldens_peto.R",
  date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = list(
    rma_peto = "mp_rma_peto(ai, bi, ci, di, add, to, drop00, level): res <- rma.peto(ai=, bi=, ci=, di=, add=, to=, drop00=, level=); predict(res); predict(res, transf = exp); leave1out(res); leave1out(res, transf = exp); cumul(res); capture.output(print(res)); warnings",
    escalc = "mp_escalc('PETO', list(ai, bi, ci, di), add=, to=, drop00=) (warnings muffled)"),
  control = "none: rma.peto and escalc are closed form",
  counts = list(rma_peto = length(peto_recs), escalc = length(esc_recs)),
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, rma_peto = peto_recs, escalc = esc_recs)), out_file)
cat(sprintf("wrote %s: %d rma_peto (%d metafor errors), %d escalc records in %.1fs\n",
            out_file, length(peto_recs), n_err, length(esc_recs), prov$seconds))
