"""The app's screens: dashboard, dialogs, viewers and wizards."""
