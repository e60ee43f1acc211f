from faktory.cli import main

main()
