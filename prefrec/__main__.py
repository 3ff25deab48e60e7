"""`python -m prefrec` runs the command-line tool."""

from prefrec.cli import main

if __name__ == "__main__":
    main()
