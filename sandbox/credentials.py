"""The sandbox's address and credentials: public on purpose, so nothing real may ever hold them.

The simulators accept these; the product's settings fall back to them only in development (DEBUG),
and its deploy check (`manage.py check --deploy`, offboarding/checks.py) fails on a setting that
still holds one. Plain constants, importable without the sandbox app installed.
"""

from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM

ADDRESS = "127.0.0.1:8001"
URL = f"http://{ADDRESS}"
WORKDAY_REPORT_URL = f"{URL}/workday/ccx/service/customreport2/acme/ISU_Offboarding/Terminations"
OKTA_URL = f"{URL}/okta"
JIRA_URL = f"{URL}/jira"
# Where each simulator is served on the sandbox's server.
PATH_PREFIXES = ("/workday/", "/okta", "/jira")

WORKDAY_USERNAME = "ISU_Offboarding"
WORKDAY_PASSWORD = "sandbox-workday-password"
OKTA_API_TOKEN = "sandbox-okta-token"
JIRA_EMAIL = "offboarding@example.com"
JIRA_API_TOKEN = "sandbox-jira-token"
# What the demo and the benchmarks sign the sandbox's Workday pushes with.
PUSH_SECRET = "sandbox-push-secret"

# Setting name -> the sandbox's value for it: a deployment holding one of these talks to the sandbox,
# or sends a credential anyone can read here.
WELL_KNOWN = {
    "WORKDAY_PASSWORD": WORKDAY_PASSWORD,
    "OKTA_API_TOKEN": OKTA_API_TOKEN,
    "OKTA_CLIENT_ID": SERVICE_APP_CLIENT_ID,
    "OKTA_PRIVATE_KEY": SERVICE_APP_PRIVATE_KEY_PEM,
    "JIRA_API_TOKEN": JIRA_API_TOKEN,
    "WORKDAY_PUSH_SECRET": PUSH_SECRET,
}
