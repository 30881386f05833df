"""The dashboard's pages: one script per page, run (not imported) by app.py's st.navigation router.

A regular package, so an installed Revwatch's `pages` is found in one place and never merged with, or
shadowed by, another `pages` directory on the path; pages/common holds what the pages share.
"""
