"""View models: the state and rules of each screen in plain Python (no Kivy import), so tests
drive whole flows without a window. Screens subscribe and redraw; workers are injected."""
