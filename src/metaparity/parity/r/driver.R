# Rscript backend of the metaparity bridge:
#   Rscript driver.R LIB.R REQUEST.json RESULT.json
# REQUEST is a JSON list of calls {"fn": "rma"|"rma_mods"|"rma_iface"|"influence"|"bias"|"rma_glmm"|"escalc"|"generic"|"versions", ...args}; RESULT is the
# list of their results, written by mp_to_json (numbers at %.17g). Errors inside a call are
# returned as {"ok": false, "error": ...}; a failure of the driver itself exits non-zero.
args <- commandArgs(trailingOnly = TRUE)
source(args[1])
for (f in sort(list.files(dirname(args[1]), pattern = "^fam_.*[.]R$", full.names = TRUE))) source(f)
# a generic call's arguments are decoded by mp_arg (metaparity.R)
reqs <- jsonlite::read_json(args[2], simplifyVector = TRUE, simplifyDataFrame = FALSE)
num <- function(x) if (is.null(x)) NULL else as.numeric(unlist(x))
out <- lapply(reqs, function(r) {
  tryCatch(switch(r$fn,
    versions = mp_versions(),
    rma = mp_rma(num(r$yi), num(r$vi), r$method, r$test, level = as.numeric(r$level),
                 weights = num(r$weights), measure = if (is.null(r$measure)) "GEN" else r$measure,
                 ni = num(r$ni), transf = r$transf, control = r$control),
    rma_mods = mp_rma_mods(num(r$yi), num(r$vi),
                           matrix(num(r$X), nrow = as.integer(r$nrow),
                                  dimnames = list(NULL, unlist(r$colnames))),
                           r$method, r$test, level = as.numeric(r$level),
                           control = r$control, weights = num(r$weights)),
    influence = mp_influence(num(r$yi), num(r$vi), r$method, r$test,
                             level = as.numeric(r$level)),
    bias = mp_bias(num(r$yi), num(r$vi), r$method, r$test, ni = num(r$ni),
                   level = as.numeric(r$level)),
    rma_glmm = mp_rma_glmm(num(r$xi), num(r$ni), nAGQ = as.integer(r$nAGQ),
                           level = as.numeric(r$level), test = r$test, at = num(r$at),
                           tight = !isFALSE(r$tight)),
    rma_iface = mp_rma_iface(r$args, data = r$data, mods = r$mods),
    generic = {
      reqs_raw <- r$args
      do.call(get(r$rfun), lapply(reqs_raw, mp_arg))
    },
    escalc = {
      inputs <- lapply(r$inputs, num)
      mp_escalc(r$measure, inputs, add = num(r$add), to = r$to, drop00 = isTRUE(r$drop00))
    },
    stop("unknown call ", r$fn)),
  error = function(e) list(ok = FALSE, error = conditionMessage(e)))
})
writeLines(mp_to_json(out), args[3])
