"""`python -m revwatch.cli.streamlit_server run app.py …`: Streamlit's own command line, for the dashboard.

app.py routes the pages with st.navigation, and its pages live in a folder named pages/. Until a first run of
app.py calls st.navigation, Streamlit takes that folder for its older routing, where a page's own URL runs the
page without app.py: a bookmark opened first after a start would get the folder's page list, unnamed, and no
sign-in (each page signs its person in itself too: pages/common/signin.py gate). Turning that routing off before
the server starts makes every request go through app.py.
"""
from __future__ import annotations


def main() -> None:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web.cli import main as streamlit_main

    if hasattr(PagesManager, "uses_pages_directory"):  # Streamlit's flag (1.3x-1.5x): None = look for pages/
        PagesManager.uses_pages_directory = False
    streamlit_main()


if __name__ == "__main__":
    main()
