; Real mode -> 32-bit protected mode -> 64-bit long mode through far jumps,
; with the guest's own GDT and identity page tables (PML4 0x50000).
; CR0 keeps CD|NW from reset (0x60000010); the page walk sets the Accessed
; bit (0x20) of the PML4 entry. SDM Vol. 3A, 9.9 (mode switching), 10.8.5
; (initializing IA-32e mode), 4.8 (accessed and dirty flags).
; mode: real
; expect: rax=0x123456789abcdef0 cs=0x18 ds=0x10 ss=0x10
; expect: cr0=0xe0000011 cr3=0x50000 cr4=0x20 efer=0x500
; expect-mem: 0x50000 = 23 10 05 00
; expect-exit: hlt
bits 16
org 0x7c00
  cli
  lgdt [gdtr]
  mov eax, cr0
  or eax, 1
  mov cr0, eax
  jmp 0x08:prot
bits 32
prot:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov esp, 0x80000
  mov dword [0x50000], 0x51003  ; PML4[0] -> PDPT
  mov dword [0x51000], 0x52003  ; PDPT[0] -> PD
  mov dword [0x52000], 0x83     ; PD[0]: 2 MiB page at 0
  mov eax, cr4
  or eax, 0x20                  ; PAE
  mov cr4, eax
  mov eax, 0x50000
  mov cr3, eax
  mov ecx, 0xc0000080           ; EFER
  rdmsr
  or eax, 0x100                 ; LME
  wrmsr
  mov eax, cr0
  or eax, 0x80000000            ; PG: LMA follows
  mov cr0, eax
  jmp 0x18:long_mode
bits 64
long_mode:
  mov rax, 0x123456789abcdef0
  hlt
align 8
gdt:
  dq 0
  dq 0x00cf9b000000ffff         ; 0x08 code32
  dq 0x00cf93000000ffff         ; 0x10 data
  dq 0x00af9b000000ffff         ; 0x18 code64
gdtr:
  dw gdtr - gdt - 1
  dd gdt
