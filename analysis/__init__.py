"""The analysis of the results logs: statistics (stats), the plots' shared code
(plots), the figures and tables of the studies (plot_*), and a diagnostic run
(diagnose_transfer). Run each from the repository's root as a module:

    python -m analysis.plot_study results/study/restore_adam.csv ...
"""
