"""mlpext.sklearn: scikit-learn's estimator checks and the behaviour of MLPClassifier and MLPRegressor."""
