from squall.container.agent import main

main()
