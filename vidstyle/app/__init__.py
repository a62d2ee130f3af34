"""The web app (``vidstyle ui``) and the style sheet: the styles shown as pictures."""
