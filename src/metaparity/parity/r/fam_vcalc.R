# vcalc() (metafor's V for dependent estimates) for the parity bridge.  Sourced after
# metaparity.R.
#
# cols: list of named columns (vi, cluster and any of subgroup, obs, type, time1, time2, grp1,
#   grp2, w1, w2, and the rvars columns), numbers or strings as given in Python; they become a
#   data frame and vcalc() is called with the names, as a user would.
# use: the argument names to pass (each as the column of the same name).
# rho: NULL, or list(kind = "vector", values =), list(kind = "matrix", values = (column-major),
#   names =), or list(kind = "list", items = list("1" = <vector|matrix>, ...)).
# phi, checkpd, nearpd: as vcalc's.  rvars: NULL or the rvars column names.
# Returns V (column-major numbers), k, the warnings, or the error.

mp_vcalc_rho <- function(spec) {
  if (is.null(spec)) return(NULL)
  if (spec$kind == "vector") return(as.numeric(unlist(spec$values)))
  if (spec$kind == "matrix") {
    nm <- as.character(unlist(spec$names))
    return(matrix(as.numeric(unlist(spec$values)), nrow = length(nm), dimnames = list(nm, nm)))
  }
  lapply(unname(spec$items), mp_vcalc_rho)
}

mp_vcalc <- function(cols, use, rho = NULL, phi = NULL, rvars = NULL, checkpd = TRUE,
                     nearpd = FALSE) {
  warns <- character(0)
  out <- withCallingHandlers(tryCatch({
    dat <- as.data.frame(lapply(cols, unlist), stringsAsFactors = FALSE)
    args <- list(data = dat, checkpd = isTRUE(checkpd), nearpd = isTRUE(nearpd))
    for (a in unlist(use)) args[[a]] <- as.name(a)
    if (!is.null(rho)) args$rho <- mp_vcalc_rho(rho)
    if (!is.null(phi)) args$phi <- phi
    if (!is.null(rvars)) args$rvars <- as.call(c(as.name("c"), lapply(unlist(rvars), as.name)))
    V <- do.call(vcalc, args)
    list(ok = TRUE, V = as.numeric(as.matrix(V)), k = nrow(V))
  }, error = function(e) list(ok = FALSE, error = conditionMessage(e))),
  warning = function(w) {
    warns <<- c(warns, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  out$warnings <- unique(warns)
  out
}
