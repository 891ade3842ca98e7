from refcamp.cli import main

main()
