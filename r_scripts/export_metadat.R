#!/usr/bin/env Rscript
# Export metadat data sets used by the parity CLI tests to CSV (fixtures/metadat/).
#   Rscript r_scripts/export_metadat.R [OUT_DIR]
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) >= 1) args[1] else "fixtures/metadat"
suppressPackageStartupMessages(library(metadat))
dir.create(out, showWarnings = FALSE, recursive = TRUE)
bcg <- dat.bcg
bcg$study <- paste(bcg$author, bcg$year)
bcg$n <- bcg$tpos + bcg$tneg + bcg$cpos + bcg$cneg  # total size: weights for GENQ
write.csv(bcg[, c("study", "trial", "year", "tpos", "tneg", "cpos", "cneg", "n", "ablat", "alloc")],
          file.path(out, "dat.bcg.csv"), row.names = FALSE)
nd <- dat.normand1999
nd$study <- paste(nd$study, nd$source)
write.csv(nd[, c("study", "source", "n1i", "m1i", "sd1i", "n2i", "m2i", "sd2i")],
          file.path(out, "dat.normand1999.csv"), row.names = FALSE)
# proportions (events xi of ni) for the binomial-normal GLMM tests (tests/test_glmm.py)
pr <- dat.pritz1997
pr$study <- paste(pr$study, pr$authors)
write.csv(pr[, c("study", "authors", "xi", "ni")], file.path(out, "dat.pritz1997.csv"),
          row.names = FALSE)
# 2x2 tables (ai of n1i, ci of n2i) for Peto's method (tests/models/test_peto.py); yusuf1985
# has missing tables (NA) and is analysed by `table`; li2007 and nielweise2007 have zero cells
yu <- dat.yusuf1985
write.csv(yu[, c("table", "id", "trial", "ai", "n1i", "ci", "n2i")],
          file.path(out, "dat.yusuf1985.csv"), row.names = FALSE)
li <- dat.li2007
li$study <- paste(li$study, li$year)
write.csv(li[, c("id", "study", "year", "ai", "n1i", "ci", "n2i")],
          file.path(out, "dat.li2007.csv"), row.names = FALSE)
nw <- dat.nielweise2007
nw$label <- paste(nw$author, nw$year)
write.csv(nw[, c("study", "label", "author", "year", "ai", "n1i", "ci", "n2i")],
          file.path(out, "dat.nielweise2007.csv"), row.names = FALSE)
# person-time data for rma.mh IRR/IRD (tests/models/test_mh.py)
write.csv(dat.hart1999[, c("trial", "study", "year", "x1i", "n1i", "t1i", "x2i", "n2i", "t2i",
                          "compgrp")],
          file.path(out, "dat.hart1999.csv"), row.names = FALSE)
write.csv(dat.nielweise2008[, c("study", "authors", "year", "x1i", "t1i", "x2i", "t2i")],
          file.path(out, "dat.nielweise2008.csv"), row.names = FALSE)
# table 6 of dat.yusuf1985 without the table that has no counts (tests/models/test_glmm_um.py)
yu6 <- subset(dat.yusuf1985, table == "6" & !is.na(ai))
write.csv(yu6[, c("id", "trial", "ai", "n1i", "ci", "n2i")], file.path(out, "dat.yusuf1985.t6.csv"),
          row.names = FALSE)
cat(sprintf("wrote %s (metadat %s)\n", out, as.character(packageVersion("metadat"))))
# multilevel / multivariate models (rma_mv: tests/models/test_mv.py, tests/parity/test_mv_live.py)
ko <- dat.konstantopoulos2011
write.csv(ko[, c("district", "school", "study", "year", "yi", "vi")],
          file.path(out, "dat.konstantopoulos2011.csv"), row.names = FALSE)
as <- dat.assink2016
write.csv(as[, c("study", "esid", "id", "yi", "vi", "pubstatus", "year", "deltype")],
          file.path(out, "dat.assink2016.csv"), row.names = FALSE)
be <- dat.berkey1998
write.csv(be[, c("trial", "author", "year", "ni", "outcome", "yi", "vi", "v1i", "v2i")],
          file.path(out, "dat.berkey1998.csv"), row.names = FALSE)
# dat.ishak2007 in long format (one row per study and time point; missing time points dropped)
is <- dat.ishak2007
long <- do.call(rbind, lapply(1:4, function(t) data.frame(study = is$study, time = t,
  yi = is[[paste0("y", t, "i")]], vi = is[[paste0("v", t, "i")]], mdur = is$mdur,
  mbase = is$mbase)))
long <- long[!is.na(long$yi), ]
long <- long[order(long$study, long$time), ]
write.csv(long, file.path(out, "dat.ishak2007_long.csv"), row.names = FALSE)
ha <- dat.hasselblad1998
write.csv(ha[, c("id", "study", "authors", "year", "trt", "xi", "ni")],
          file.path(out, "dat.hasselblad1998.csv"), row.names = FALSE)
