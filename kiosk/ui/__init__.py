"""The touchscreen app (Kivy). ``vm`` holds the plain-Python view models the screens bind to;
``screens`` holds one ``.py`` + ``.kv`` pair per screen; ``app`` wires them to the gate."""
