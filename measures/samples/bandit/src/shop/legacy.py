# Python 2 code Bandit cannot parse: reported under "errors", not scanned.
print "legacy report"
