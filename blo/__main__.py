from blo.cli import main

main()
