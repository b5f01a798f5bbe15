# Placeholder main loop until the firmware core lands: proves main.py runs at power-on.
import time


def main():
    n = 0
    while True:
        print("mobiot: alive", n)
        n += 1
        time.sleep(1)
