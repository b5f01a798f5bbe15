# main.py: the terminal's application. Ctrl-C stops it and leaves the board at the REPL.
import mobiot_fw.app

mobiot_fw.app.main()
