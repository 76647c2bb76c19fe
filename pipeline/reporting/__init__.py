"""What people read: every plot's name, files and titles (:mod:`.plot_registry`), the PNG plots
(:mod:`.plots`), the offline HTML report and the model card (:mod:`.report`) and the CI reproduction report
(:mod:`.ci_report`)."""
