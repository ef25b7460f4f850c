from squall.sandbox.supervisor import main

main()
