# metafor side of `metaparity bench` (metaparity/bench.py): a plain rma() loop over the
# rows of a CSV (y1..yk, v1..vk), timed inside R, once per estimator, with metafor's
# default control -- what a user's loop does. Then, untimed:
#   * the same fits with tight control (mp_control_for, as the parity checks) for agreement;
#   * for REML fits that fail to converge with the default control: a retry with
#     control = list(stepadj = 0.5) (step halving).
# Usage: Rscript --vanilla bench_metafor.R metaparity.R in.csv out_prefix DL,REML,... [tight]
args <- commandArgs(trailingOnly = TRUE)
source(args[1])
d <- as.matrix(read.csv(args[2]))
prefix <- args[3]
methods <- strsplit(args[4], ",")[[1]]
tight <- length(args) < 5 || args[5] != "notight"
k <- ncol(d) %/% 2
Y <- d[, seq_len(k), drop = FALSE]
V <- d[, k + seq_len(k), drop = FALSE]
n <- nrow(Y)

fit_rows <- function(method, control = NULL) {
  b <- se <- tau2 <- rep(NA_real_, n)
  err <- rep("", n)
  suppressWarnings(for (i in seq_len(n)) {
    r <- tryCatch(if (is.null(control)) rma(Y[i, ], V[i, ], method = method)
                  else rma(Y[i, ], V[i, ], method = method, control = control(V[i, ])),
                  error = function(e) e)
    if (inherits(r, "error")) err[i] <- conditionMessage(r)
    else { b[i] <- r$beta[1]; se[i] <- r$se; tau2[i] <- r$tau2 }
  })
  data.frame(method = method, row = seq_len(n) - 1L, b = b, se = se, tau2 = tau2, error = err)
}

timing <- data.frame(method = character(0), n = integer(0), seconds = numeric(0))
out <- list()
for (m in methods) {
  t0 <- proc.time()[[3]]
  res <- fit_rows(m)
  el <- proc.time()[[3]] - t0
  timing <- rbind(timing, data.frame(method = m, n = n, seconds = el))
  res$pass <- "default"
  out[[length(out) + 1]] <- res
  if (tight) {
    # DLIT: metafor's iteration oscillates on many data sets (not rounding noise), and
    # 10000 iterations per failing fit cost ~1 s each: cap them and do not relax
    tctl <- if (m == "DLIT") function(vi) modifyList(mp_control_for(vi), list(maxiter = 1000L))
            else function(vi) mp_control_for(vi)
    rt <- fit_rows(m, control = tctl)
    # as mp_rma: relax the threshold where rounding noise blocks convergence
    for (relax in if (m == "DLIT") numeric(0) else c(100, 10000)) {
      bad <- which(grepl("converge", rt$error))
      for (i in bad) {
        r <- tryCatch(suppressWarnings(rma(Y[i, ], V[i, ], method = m,
                                           control = mp_control_for(V[i, ], relax))),
                      error = function(e) e)
        if (!inherits(r, "error")) {
          rt$b[i] <- r$beta[1]; rt$se[i] <- r$se; rt$tau2[i] <- r$tau2; rt$error[i] <- ""
        }
      }
    }
    rt$pass <- "tight"
    out[[length(out) + 1]] <- rt
  }
  if (m == "REML") {
    fails <- which(grepl("converge", res$error))
    if (length(fails)) {
      rs <- res[fails, ]
      for (j in seq_along(fails)) {
        i <- fails[j]
        r <- tryCatch(suppressWarnings(rma(Y[i, ], V[i, ], method = m,
                                           control = list(stepadj = 0.5))),
                      error = function(e) e)
        if (inherits(r, "error")) rs$error[j] <- conditionMessage(r)
        else { rs$b[j] <- r$beta[1]; rs$se[j] <- r$se; rs$tau2[j] <- r$tau2; rs$error[j] <- "" }
      }
      rs$pass <- "stepadj"
      out[[length(out) + 1]] <- rs
    }
  }
}
write.csv(do.call(rbind, out), paste0(prefix, "_fits.csv"), row.names = FALSE)
write.csv(timing, paste0(prefix, "_timing.csv"), row.names = FALSE)
v <- mp_versions()
writeLines(c(v$R, v$metafor, v$platform), paste0(prefix, "_versions.txt"))
