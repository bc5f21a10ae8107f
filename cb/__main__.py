from cb.cli import main

main()
