#!/usr/bin/env python
import os
import sys
from pathlib import Path

# The delivery package comes from the repository two folders up (a real project installs it).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "minimal_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
