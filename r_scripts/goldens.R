#!/usr/bin/env Rscript
# Golden results for metaparity, computed with metafor.
#
#   Rscript r_scripts/goldens.R [OUT_JSON]     (default: fixtures/goldens/metafor-<installed version>/rma_grid.json)
#
# Grid: every escalc measure metaparity supports (on metadat data sets, the
# selinexor counts of Tao et al. 2021, and small synthetic sets with zero cells)
# x every tau^2 estimator x every test. For each fit: rma() fields, predict()
# (raw and back-transformed) and the Q-profile confint(). All numbers at %.17g;
# the provenance block records R, metafor and the control= used.
args <- commandArgs(trailingOnly = TRUE)
out_file <- if (length(args) >= 1) args[1] else file.path("fixtures", "goldens", paste0("metafor-", packageVersion("metafor")), "rma_grid.json")
script_dir <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
root <- normalizePath(file.path(script_dir, ".."))
source(file.path(root, "src", "metaparity", "parity", "r", "metaparity.R"))
suppressPackageStartupMessages(library(metadat))

METHODS <- c("EE", "FE", "DL", "DLIT", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "EB", "PM", "PMM", "GENQ")
TESTS <- c("z", "t", "knha", "adhoc")
BACK <- c(PLO = "ilogit", PAS = "iarcsin", PFT = "ipft.hm", PLN = "exp", OR = "exp", RR = "exp",
          ROM = "exp", ZCOR = "ztor")

# ---- data sets: id, measure(s), escalc inputs, total n per study ------------
sets <- list()
add_set <- function(id, measures, inputs, ni, level = 95, escalc_opts = list()) {
  sets[[length(sets) + 1]] <<- list(id = id, measures = measures, inputs = inputs, ni = ni,
                                    level = level, escalc_opts = escalc_opts)
}
b <- dat.bcg
add_set("dat.bcg", c("OR", "RR", "RD"),
        list(ai = b$tpos, bi = b$tneg, ci = b$cpos, di = b$cneg), b$tpos + b$tneg + b$cpos + b$cneg)
add_set("dat.bcg[1:2]", c("RR"), list(ai = b$tpos[1:2], bi = b$tneg[1:2], ci = b$cpos[1:2], di = b$cneg[1:2]),
        (b$tpos + b$tneg + b$cpos + b$cneg)[1:2])
add_set("dat.bcg[1:3] level=90", c("OR"), list(ai = b$tpos[1:3], bi = b$tneg[1:3], ci = b$cpos[1:3], di = b$cneg[1:3]),
        (b$tpos + b$tneg + b$cpos + b$cneg)[1:3], level = 90)
p <- dat.pritz1997
add_set("dat.pritz1997", c("PR", "PLN", "PLO", "PAS", "PFT"), list(xi = p$xi, ni = p$ni), p$ni)
add_set("dat.pritz1997[1:6]", c("PAS", "PFT", "PLN"), list(xi = p$xi[1:6], ni = p$ni[1:6]), p$ni[1:6])
add_set("dat.pritz1997 add=0.5", c("PAS", "PFT"), list(xi = p$xi, ni = p$ni), p$ni, escalc_opts = list(add = 0.5))
nd <- dat.normand1999
add_set("dat.normand1999", c("MD", "SMD", "ROM"),
        list(m1i = nd$m1i, sd1i = nd$sd1i, n1i = nd$n1i, m2i = nd$m2i, sd2i = nd$sd2i, n2i = nd$n2i),
        nd$n1i + nd$n2i)
cu <- dat.curtis1998  # k = 102
add_set("dat.curtis1998", c("MD", "SMD", "ROM"),
        list(m1i = cu$m1i, sd1i = cu$sd1i, n1i = cu$n1i, m2i = cu$m2i, sd2i = cu$sd2i, n2i = cu$n2i),
        cu$n1i + cu$n2i)
mo <- dat.molloy2014
add_set("dat.molloy2014", c("ZCOR", "COR"), list(ri = mo$ri, ni = mo$ni), mo$ni)
# zero cells: continuity correction variants
z <- list(ai = c(0, 3, 5, 0, 12), n1i = c(10, 10, 10, 15, 40), ci = c(0, 2, 10, 4, 9), n2i = c(12, 12, 10, 15, 41))
add_set("zero-cells", c("OR", "RR", "RD"), z, z$n1i + z$n2i)
add_set("zero-cells to=all", c("OR", "RR", "RD"), z, z$n1i + z$n2i, escalc_opts = list(to = "all"))
add_set("zero-cells to=if0all", c("OR", "RR"), z, z$n1i + z$n2i, escalc_opts = list(to = "if0all"))
add_set("zero-cells drop00", c("OR", "RR"), z, z$n1i + z$n2i, escalc_opts = list(drop00 = TRUE))
add_set("zero-cells add=0.25", c("OR", "PR"), list(ai = z$ai, n1i = z$n1i, ci = z$ci, n2i = z$n2i, xi = z$ai, ni = z$n1i),
        z$n1i, escalc_opts = list(add = 0.25))
# homogeneous set (tau^2 estimates truncated at 0) and directly given yi/sei
add_set("homogeneous", c("GEN"), list(yi = c(0.10, 0.12, 0.09, 0.11, 0.10, 0.13), sei = sqrt(c(0.010, 0.020, 0.015, 0.012, 0.030, 0.025))),
        c(100, 50, 70, 80, 35, 40))
# ML: Fisher scoring from HE reaches a local maximum below the likelihood at tau^2 = 0;
# metafor then sets tau^2 = 0 (simulated: benchmarks/bench_batch.py simulate(1000, 10), row 400)
add_set("ML local maximum", c("GEN"), list(
  yi = c(-0.53871232305966976, 0.066764550439771531, 0.94176453356444179, 0.68131406649966753, 0.42750385138040681,
         0.30033964093005883, 0.54130283828350334, -0.27684793855374917, -0.31208623278591358, 0.35544736924490222),
  sei = sqrt(c(0.14089789595026617, 0.11100235758391963, 0.15109429475359443, 0.18054406557035471, 0.096985930801406772,
               0.016228192925132782, 0.15571080039929083, 0.09721281762710772, 0.15868854726177811, 0.17217639485648653))),
  rep(50, 10))
add_set("identical yi", c("GEN"), list(yi = c(0.1, 0.1, 0.1), sei = sqrt(c(0.01, 0.02, 0.03))), c(50, 40, 30))
# selinexor (Tao, Zhou & Niu 2021): every outcome/grade/subgroup with known counts, and overall
sx <- read.csv(file.path(root, "fixtures", "selinexor", "selinexor_counts.csv"), stringsAsFactors = FALSE)
sx <- sx[!is.na(sx$events), ]
keys <- unique(sx[, c("outcome", "grade", "subgroup")])
for (i in seq_len(nrow(keys))) {
  s <- sx[sx$outcome == keys$outcome[i] & sx$grade == keys$grade[i] & sx$subgroup == keys$subgroup[i], ]
  add_set(sprintf("selinexor %s/%s/%s", keys$outcome[i], keys$grade[i], keys$subgroup[i]), c("PR", "PLO", "PFT"),
          list(xi = s$events, ni = s$n, slab = s$study), s$n)
}
for (key in unique(paste(sx$outcome, sx$grade, sep = "/"))) {
  s <- sx[paste(sx$outcome, sx$grade, sep = "/") == key, ]
  if (nrow(s) >= 2 && length(unique(s$subgroup)) == 2)
    add_set(sprintf("selinexor %s/overall", key), c("PR", "PLO", "PFT"), list(xi = s$events, ni = s$n, slab = s$study), s$n)
}

# ---- run ------------------------------------------------------------------------
esc <- list(); fits <- list()
t0 <- Sys.time()
for (st in sets) {
  for (ms in st$measures) {
    inp <- st$inputs; inp$slab <- NULL
    if (ms == "GEN") {
      e <- list(yi = inp$yi, vi = inp$sei^2)
      inp_used <- inp
    } else {
      keep <- switch(ms, OR = , RR = , RD = intersect(names(inp), c("ai", "bi", "ci", "di", "n1i", "n2i")),
                     PR = , PLN = , PLO = , PAS = , PFT = c("xi", "ni"),
                     MD = , SMD = , ROM = c("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
                     ZCOR = , COR = c("ri", "ni"))
      inp_used <- inp[keep]
      opts <- modifyList(list(to = "only0", drop00 = FALSE), st$escalc_opts)
      e <- mp_escalc(ms, inp_used, add = opts$add, to = opts$to, drop00 = opts$drop00)
    }
    opts <- modifyList(list(to = "only0", drop00 = FALSE), st$escalc_opts)
    ni <- if (ms %in% c("PR", "PLN", "PLO", "PAS", "PFT")) inp_used$ni else st$ni
    esc[[length(esc) + 1]] <- list(dataset = st$id, measure = ms, inputs = inp_used,
                                   add = if (is.null(opts$add)) NA_real_ else opts$add,
                                   to = opts$to, drop00 = opts$drop00, yi = e$yi, vi = e$vi)
    ok <- is.finite(e$yi) & is.finite(e$vi)
    yi <- e$yi[ok]; vi <- e$vi[ok]; nk <- ni[ok]
    tr <- if (ms %in% names(BACK)) BACK[[ms]] else NULL
    for (m in METHODS) for (tt in TESTS) {
      w <- if (m == "GENQ") nk else NULL
      r <- mp_rma(yi, vi, m, tt, level = st$level, weights = w, measure = ms, ni = nk, transf = tr)
      fits[[length(fits) + 1]] <- c(list(dataset = st$id, measure = ms, method = m, test = tt,
                                         level = st$level, weights = if (is.null(w)) NULL else "ni",
                                         yi = yi, vi = vi, ni = nk), r)
    }
  }
}
prov <- c(mp_versions(), list(
  generated_by = "r_scripts/goldens.R", date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  r_call = "rma(yi, vi, method=<method>, test=<test>, level=<level>, weights=<ni for GENQ>, control=mp_control_for(vi)); predict(res[, transf=..., targs=list(ni=ni)]); confint(res, control=mp_confint_control_for(vi)); escalc(measure, ..., add=, to=, drop00=)",
  control = "mp_control_for(vi): threshold = 1e-14 * min(1, median(vi)) (x100, x1e4 only when metafor reports non-convergence at the tighter one), maxiter = 10000, tol = 1e-15 * min(1, median(vi)), tau2.max = 1e8 * max(1, max(vi)); the control used is stored with each fit", confint_control = "mp_confint_control_for(vi): tol = 1e-15 * min(1, median(vi)), maxiter = 10000, tau2.max = 1e8 * max(1, max(vi))",
  seconds = as.numeric(difftime(Sys.time(), t0, units = "secs"))))
dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(mp_to_json(list(provenance = prov, escalc = esc, rma = fits)), out_file)
cat(sprintf("wrote %s: %d escalc sets, %d rma fits (%d metafor errors) in %.1fs\n", out_file, length(esc),
            length(fits), sum(!vapply(fits, function(f) isTRUE(f$ok), TRUE)), prov$seconds))
