from vmsd.entry import main

raise SystemExit(main())
