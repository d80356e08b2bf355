"""The fields compared with metafor for the conditional GLMMs (shared by live and golden tests)."""

EL_FIELDS = "b se zval ci_lb ci_ub tau2 I2 H2 vt QE_LRT QM logLik deviance AIC BIC k p".split()
AL_FIELDS = (
    "b se zval ci_lb ci_ub tau2 I2 H2 vt QE_Wld QE_LRT QM logLik deviance AIC BIC k p".split()
)
